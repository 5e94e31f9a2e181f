package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldd/fieldd/pkg/client"
)

var metricsAddr = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

func scrape(t *testing.T, addr string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return b
}

// fielddSeries counts the samples of fieldd's own metrics.
func fielddSeries(b []byte) int {
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "fieldd_") {
			n++
		}
	}
	return n
}

func TestMetricsStayBoundedAcrossClients(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (scripts/test installs it)")
	}
	dir := t.TempDir()
	_, log := startDaemon(t, nil, "--runtime-dir", dir+"/run", "--state-dir", dir+"/state",
		"--metrics-listen", "127.0.0.1:0")
	var addr string
	waitFor(t, func() bool {
		m := metricsAddr.FindStringSubmatch(log.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})

	ctx := context.Background()
	owner, err := client.Dial(ctx, client.Options{RuntimeDir: dir + "/run", Name: "owner"})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	paths := make([]string, 2000)
	for i := range paths {
		paths[i] = fmt.Sprintf("m/%d", i)
	}
	ids, err := owner.FieldIDs(ctx, paths...)
	if err != nil {
		t.Fatal(err)
	}
	before := fielddSeries(scrape(t, addr))

	clients := 300
	if testing.Short() {
		clients = 50
	}
	for i := range clients {
		c, err := client.Dial(ctx, client.Options{RuntimeDir: dir + "/run", Name: fmt.Sprintf("c%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids[i%10*200 : i%10*200+200] {
			if _, err := c.Watch(id, func(client.Value) {}); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}

	// Close returns before the daemon has reclaimed the slot, so wait for
	// the last disconnect to show.
	var body []byte
	waitFor(t, func() bool {
		body = scrape(t, addr)
		return bytes.Contains(body, []byte("\nfieldd_clients 1\n"))
	})
	if after := fielddSeries(body); after != before {
		t.Errorf("fieldd series: %d before %d clients came and went, %d after", before, clients, after)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
