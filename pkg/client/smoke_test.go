package client_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fieldd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/fieldd").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "--runtime-dir", dir+"/run", "--state-dir", dir+"/state")
	cmd.Stderr = os.Stderr
	cmd.Start()
	defer cmd.Process.Kill()
	ctx := context.Background()
	var c *client.Client
	var err error
	for range 100 {
		c, err = client.Dial(ctx, client.Options{RuntimeDir: dir + "/run"})
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Claim(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.FieldID(ctx, "a/x")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan client.Value, 100)
	cancel, err := c.Watch(id, func(v client.Value) { got <- v })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := w.Publish(id, []byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	for v := range got {
		t.Log(v.Version(), v.String())
		if v.Version() == 5 {
			break
		}
	}
	cancel()
	c2, _ := client.Dial(ctx, client.Options{RuntimeDir: dir + "/run"})
	if err := c2.Update(ctx, id, []byte("x")); err == nil {
		t.Fatal("update of owned field")
	} else {
		t.Log(err)
	}
	_, err = c2.Claim(ctx, "a/x")
	t.Log(err)
	c.Close()
	c2.Close()
}
