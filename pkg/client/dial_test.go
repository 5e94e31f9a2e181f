package client_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

func TestDialRetriesHandshakeLimit(t *testing.T) {
	var silent []*net.UnixConn
	runDir := startDaemon(t, "--max-handshakes-per-uid", "2")
	ctx := context.Background()
	observer := dial(t, runDir, client.Options{Name: "observer"})

	// Connections that never send a hello fill this uid's two handshakes.
	// One can be turned away while the observer's handshake is ending, so
	// more are opened until the daemon holds two.
	sock := filepath.Join(runDir, "fieldd.sock")
	defer func() {
		for _, nc := range silent {
			nc.Close()
		}
	}()
	start, err := observer.DaemonStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "two handshakes held", func() bool {
		st, err := observer.DaemonStats(ctx)
		if err != nil {
			return false
		}
		if st.Handshakes == 2 {
			return true
		}
		// Open another one once every earlier one is held or rejected.
		accounted := st.Handshakes + int(st.Rejected-start.Rejected)
		if len(silent) < 10 && accounted >= len(silent) {
			nc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: sock, Net: "unixpacket"})
			if err != nil {
				t.Fatal(err)
			}
			silent = append(silent, nc)
		}
		return false
	})
	before, err := observer.DaemonStats(ctx)
	if err != nil {
		t.Fatal(err)
	}

	dialed := make(chan error, 1)
	go func() {
		c, err := client.Dial(ctx, client.Options{RuntimeDir: runDir, Name: "late"})
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()

	// Once the daemon has turned the first attempt away, free the slots.
	waitFor(t, 10*time.Second, "first attempt rejected", func() bool {
		st, err := observer.DaemonStats(ctx)
		return err == nil && st.Rejected > before.Rejected
	})
	for _, nc := range silent {
		nc.Close()
	}
	select {
	case err := <-dialed:
		if err != nil {
			t.Fatalf("Dial after the handshakes freed up: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial did not return within 10s")
	}
}
