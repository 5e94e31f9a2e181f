package envflag

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestApplyPrecedence(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	n := fs.Int("max-clients", 1, "")
	dir := fs.String("runtime-dir", "default", "")
	ring := fs.Int("ring-size", 2, "")
	if err := fs.Parse([]string{"--ring-size", "64"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("APP_MAX_CLIENTS", "7")
	t.Setenv("APP_RING_SIZE", "128")
	t.Setenv("OTHER_RUNTIME_DIR", "/fallback")
	if err := Apply(fs, "APP", map[string]string{"runtime-dir": "OTHER_RUNTIME_DIR"}); err != nil {
		t.Fatal(err)
	}
	if *n != 7 {
		t.Errorf("max-clients = %d, want 7 from the environment", *n)
	}
	if *ring != 64 {
		t.Errorf("ring-size = %d, want 64 from the command line", *ring)
	}
	if *dir != "/fallback" {
		t.Errorf("runtime-dir = %q, want the fallback variable", *dir)
	}
}

func TestApplyNamesBadVariable(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Int("max-clients", 1, "")
	t.Setenv("APP_MAX_CLIENTS", "many")
	err := Apply(fs, "APP", nil)
	if err == nil || !strings.Contains(err.Error(), `APP_MAX_CLIENTS="many"`) {
		t.Fatalf("Apply = %v, want an error naming the variable and value", err)
	}
}
