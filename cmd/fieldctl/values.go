package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// valueJSON is the -o json output of get and set.
type valueJSON struct {
	Path    string `json:"path"`
	ID      uint32 `json:"id"`
	Version uint64 `json:"version"`
	Value   string `json:"value"`
	Gone    bool   `json:"gone"`
}

func newGet(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get PATH",
		Short: "Print the value of a field",
		Long: `Print the newest value of the field PATH, read from shared memory, followed
by a newline. A field that was never written (version 0) or that its writer
retired prints an empty value. A path the daemon does not know is an error;
get never creates a field.

With -o json the output is an object with path, id, version, value (a
string) and gone.`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			path := args[0]
			ctx, stop := signalContext()
			defer stop()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()

			id, err := c.LookupFieldID(ctx, path)
			if err != nil {
				return fmt.Errorf("get %s: %w", path, err)
			}
			if id == 0 {
				return fmt.Errorf("get %s: field not found; list fields with: fieldctl fields", path)
			}
			v, err := c.Read(id)
			if err != nil {
				return fmt.Errorf("get %s: %w", path, err)
			}
			if g.json() {
				return writeJSON(os.Stdout, valueJSON{
					Path: path, ID: uint32(id), Version: v.Version(), Value: v.String(), Gone: v.Gone(),
				})
			}
			_, err = fmt.Fprintf(os.Stdout, "%s\n", v.Bytes())
			return err
		}),
	}
}

func newSet(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "set PATH VALUE",
		Short: "Store a value in a field that no writer owns",
		Long: `Store VALUE in the field PATH through the daemon, creating the field when
it is new. The daemon rejects fields under a prefix that a writer has
claimed, naming the writer's pid: only that writer may change them.

set prints nothing on success. With -o json it prints an object with path,
id, version, value and gone, read back after the update.`,
		Args: cobra.ExactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			path, value := args[0], args[1]
			ctx, stop := signalContext()
			defer stop()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()

			id, err := c.FieldID(ctx, path)
			if err != nil {
				return fmt.Errorf("set %s: %w", path, err)
			}
			if err := c.Update(ctx, id, []byte(value)); err != nil {
				return fmt.Errorf("set %s: %w", path, err)
			}
			if !g.json() {
				return nil
			}
			// A later update by another client can make this version
			// higher than the one this update stored.
			v, err := c.Read(id)
			if err != nil {
				return fmt.Errorf("set %s: read back: %w", path, err)
			}
			return writeJSON(os.Stdout, valueJSON{
				Path: path, ID: uint32(id), Version: v.Version(), Value: v.String(), Gone: v.Gone(),
			})
		}),
	}
}
