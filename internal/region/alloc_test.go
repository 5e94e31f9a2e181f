package region

import "testing"

// TestHotPathsDoNotAllocate checks that publishing, draining, taking and
// reading allocate nothing once the caller's buffers have grown.
func TestHotPathsDoNotAllocate(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	w := mustWriter(t, r, 1)
	rd := mustReader(t, r, 0)
	watch(t, r, 0, 1, 2)
	value := make([]byte, 64)
	ids := make([]uint32, 0, 16)
	buf := make([]byte, 0, 64)

	tests := []struct {
		name string
		run  func()
	}{
		{"publish unwatched", func() { w.Publish(3, value) }},
		{"publish coalesced", func() { w.Publish(2, value) }},
		{"publish, drain, take", func() {
			w.Publish(1, value)
			ids = rd.Drain(ids[:0], 16)
			for _, id := range ids {
				buf, _, _, _ = rd.Take(id, buf)
			}
		}},
		{"read", func() { buf, _, _, _ = r.ReadInto(1, buf) }},
	}
	for _, tt := range tests {
		tt.run() // grows buffers and fills both value cells
		tt.run()
		if n := testing.AllocsPerRun(100, tt.run); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tt.name, n)
		}
	}
	if len(buf) != 64 {
		t.Errorf("read %d bytes, want 64", len(buf))
	}
}
