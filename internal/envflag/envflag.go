// Package envflag sets command-line flags from environment variables.
package envflag

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Name returns the variable for flag name under prefix: "max-clients"
// under "FIELDD" is FIELDD_MAX_CLIENTS.
func Name(prefix, flag string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets every flag of fs not given on the command line from its
// variable under prefix. The variables in fallback, keyed by flag name,
// are read next when that variable is unset. A value the flag rejects is
// an error naming the variable and the value.
func Apply(fs *pflag.FlagSet, prefix string, fallback map[string]string) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		names := []string{Name(prefix, f.Name)}
		if alt, ok := fallback[f.Name]; ok {
			names = append(names, alt)
		}
		for _, name := range names {
			v, ok := os.LookupEnv(name)
			if !ok {
				continue
			}
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid %s=%q: %w", name, v, err))
			}
			return
		}
	})
	return errors.Join(errs...)
}
