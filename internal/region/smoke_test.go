package region

import (
	"testing"
)

func TestSmokePublishDrainRead(t *testing.T) {
	g := DefaultGeometry()
	g.MaxFields, g.MaxSlots, g.RingSize = 128, 2, 4
	r, files, err := Create(t.TempDir(), g, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	defer r.Close()
	w, err := r.Writer(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetWatch(5, 1, true); err != nil {
		t.Fatal(err)
	}
	rd, _ := r.Reader(1)
	for i := range 10 {
		if err := w.Publish(uint32(5+i%7), []byte("hello world, value")); err != nil {
			t.Fatal(err)
		}
	}
	ids := rd.Drain(nil, 100)
	if len(ids) != 1 || ids[0] != 5 {
		t.Fatalf("drained %v", ids)
	}
	v, ver, gone, err := rd.Take(5, nil)
	if string(v) != "hello world, value" || ver != 2 || gone || err != nil {
		t.Fatalf("read %q %d %v %v", v, ver, gone, err)
	}
	r2, err := Open(files.ValuesRO, files.Slots, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	v, ver, _, err = r2.ReadInto(5, nil)
	if string(v) != "hello world, value" || ver != 2 || err != nil {
		t.Fatalf("read %q %d %v", v, ver, err)
	}
}
