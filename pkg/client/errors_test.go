package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestUnissuedIDErrorsNameID uses a field ID the daemon never issued:
// Read, Watch, Publish, Update and FieldPath all fail with ErrNotIssued
// and name the ID.
func TestUnissuedIDErrorsNameID(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "confused"})
	w := claim(t, c, "e")
	fieldID(t, c, "e/x")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, id := range []client.FieldID{0, 4242} {
		calls := map[string]func() error{
			"Read": func() error {
				_, err := c.Read(id)
				return err
			},
			"Watch": func() error {
				_, err := c.Watch(id, func(client.Value) {})
				return err
			},
			"Publish":   func() error { return w.Publish(id, []byte("v")) },
			"Retire":    func() error { return w.Retire(id) },
			"Update":    func() error { return c.Update(ctx, id, []byte("v")) },
			"FieldPath": func() error { _, err := c.FieldPath(ctx, id); return err },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, client.ErrNotIssued) {
				t.Errorf("%s(%d): error %v, want ErrNotIssued", name, id, err)
				continue
			}
			if want := fmt.Sprintf(": %d ", id); !strings.Contains(err.Error(), want) {
				t.Errorf("%s(%d): error %q does not name the ID", name, id, err)
			}
		}
	}
}

// TestPublishOutsidePrefixesNamesPrefixes publishes to a field outside the
// writer's prefixes, unclaimed or claimed by another writer: the error is
// ErrNotOwned and names the field and every prefix the writer claimed.
func TestPublishOutsidePrefixesNamesPrefixes(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "writer"})
	w := claim(t, c, "mine", "also/mine")
	other := dial(t, run, client.Options{Name: "other-writer"})
	claim(t, other, "theirs")

	for _, path := range []string{"unclaimed/x", "theirs/x"} {
		err := w.Publish(fieldID(t, c, path), []byte("v"))
		if !errors.Is(err, client.ErrNotOwned) {
			t.Errorf("publish %s: error %v, want ErrNotOwned", path, err)
			continue
		}
		for _, want := range []string{strconv.Quote(path), `"mine"`, `"also/mine"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("publish %s: error %q does not contain %s", path, err, want)
			}
		}
	}
	if err := w.Publish(fieldID(t, c, "also/mine/x"), []byte("v")); err != nil {
		t.Errorf("publish under a held prefix: %v", err)
	}
}

// TestClaimHeldByOtherWriterNamesPID claims a prefix that another client
// of the same process holds: the daemon compares connections, not
// processes, so the claim fails, naming the holder's pid. An Update of a
// field the other writer owns fails the same way.
func TestClaimHeldByOtherWriterNamesPID(t *testing.T) {
	run := startDaemon(t)
	holder := dial(t, run, client.Options{Name: "holder"})
	claim(t, holder, "doc")
	c := dial(t, run, client.Options{Name: "claimer"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pid := os.Getpid()

	for _, prefix := range []string{"doc", "doc/sub", "doc/sub/deeper"} {
		_, err := c.Claim(ctx, prefix)
		checkDaemonError(t, "claim "+prefix, err, client.CodeClaimed, pid)
	}
	err := c.Update(ctx, fieldID(t, c, "doc/x"), []byte("v"))
	checkDaemonError(t, "update doc/x", err, client.CodeOwned, pid)
}

// checkDaemonError checks that err is a *client.Error with code whose
// holder is pid, and that its message names pid.
func checkDaemonError(t testing.TB, what string, err error, code string, pid int) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Errorf("%s: error %v, want a *client.Error", what, err)
		return
	}
	if ce.Code != code {
		t.Errorf("%s: code %q, want %q", what, ce.Code, code)
	}
	if ce.Holder != pid {
		t.Errorf("%s: holder %d, want %d", what, ce.Holder, pid)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(pid)) {
		t.Errorf("%s: error %q does not name pid %d", what, err, pid)
	}
}

// TestValueOverLimitNamesLimitAndFlag publishes and updates values one
// byte over --max-value-size: both fail with ErrTooLarge, naming the
// limit and the flag. A value of exactly the limit is stored.
func TestValueOverLimitNamesLimitAndFlag(t *testing.T) {
	const limit = 1024
	run := startDaemon(t, "--max-value-size", strconv.Itoa(limit))
	c := dial(t, run, client.Options{Name: "big"})
	w := claim(t, c, "big")
	owned := fieldID(t, c, "big/x")
	free := fieldID(t, c, "free/x")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	over := make([]byte, limit+1)
	calls := map[string]func() error{
		"Publish": func() error { return w.Publish(owned, over) },
		"Update":  func() error { return c.Update(ctx, free, over) },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, client.ErrTooLarge) {
			t.Errorf("%s of %d bytes: error %v, want ErrTooLarge", name, len(over), err)
			continue
		}
		for _, want := range []string{strconv.Itoa(limit), "--max-value-size"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s of %d bytes: error %q does not contain %q", name, len(over), err, want)
			}
		}
	}

	if err := w.Publish(owned, over[:limit]); err != nil {
		t.Errorf("Publish of exactly %d bytes: %v", limit, err)
	}
	if err := c.Update(ctx, free, over[:limit]); err != nil {
		t.Errorf("Update of exactly %d bytes: %v", limit, err)
	}
}

// TestInvalidPathErrorsNamePath requests field IDs of invalid paths and
// claims them as prefixes: each is an error that names the path.
func TestInvalidPathErrorsNamePath(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "sloppy"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// One byte over the default --max-path-length of 256.
	tooLong := strings.Repeat("a", 251) + "/bcdef"
	cases := []struct {
		name, path string
		want       []string // in the message
	}{
		{"empty", "", []string{"empty"}},
		{"empty segment", "a//b", []string{`"a//b"`}},
		{"leading slash", "/a", []string{`"/a"`}},
		{"trailing slash", "a/", []string{`"a/"`}},
		{"NUL", "a\x00b", []string{`"a\x00b"`}},
		{"non-ASCII", "caf\u00e9/x", []string{strconv.Quote("caf\u00e9/x")}},
		{"space", "a b", []string{`"a b"`}},
		{"too long", tooLong, []string{tooLong[:40], "257 bytes", "256", "--max-path-length"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, idErr := c.FieldID(ctx, tc.path)
			_, claimErr := c.Claim(ctx, tc.path)
			for what, err := range map[string]error{"FieldID": idErr, "Claim": claimErr} {
				if err == nil {
					t.Errorf("%s(%q) succeeded", what, tc.path)
					continue
				}
				for _, want := range tc.want {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s(%q): error %q does not contain %q", what, tc.path, err, want)
					}
				}
			}
		})
	}
}
