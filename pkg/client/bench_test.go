package client_test

import (
	"bytes"
	"testing"

	"github.com/fieldd/fieldd/pkg/client"
)

// BenchmarkClientRead measures Client.Read of a 64-byte value, which adds
// the ID check, the lock that keeps the region mapped and a fresh copy to
// the region read.
func BenchmarkClientRead(b *testing.B) {
	runDir := startDaemon(b)
	c := dial(b, runDir, client.Options{})
	w := claim(b, c, "bench")
	id := fieldID(b, c, "bench/x")
	publish(b, w, id, string(bytes.Repeat([]byte{'v'}, 64)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Read(id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterPublish measures Writer.Publish of a 64-byte value to an
// unwatched field: the writer's lock, ID and owner checks on top of the
// region publish.
func BenchmarkWriterPublish(b *testing.B) {
	runDir := startDaemon(b)
	c := dial(b, runDir, client.Options{})
	w := claim(b, c, "bench")
	id := fieldID(b, c, "bench/x")
	value := bytes.Repeat([]byte{'v'}, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := w.Publish(id, value); err != nil {
			b.Fatal(err)
		}
	}
}
