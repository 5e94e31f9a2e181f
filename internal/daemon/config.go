// Package daemon is the fieldd server: it builds the region, keeps the
// path registry, and serves clients on the control socket.
package daemon

import (
	"fmt"
	"log/slog"
	"os/user"
	"strconv"
	"strings"

	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/region"
)

// Config is the daemon's configuration. The zero values of MaxPath and
// MaxMessage mean the protocol defaults.
type Config struct {
	RuntimeDir string
	StateDir   string
	Geometry   region.Geometry
	MaxPath    int
	MaxMessage int
	// MaxHandshakes and MaxHandshakesPerUID cap the connections that have
	// not finished their handshake, overall and from one uid.
	MaxHandshakes       int
	MaxHandshakesPerUID int
	Readers             Allow // peers that may connect and read
	Writers             Allow // peers that may also claim prefixes
	Logger              *slog.Logger
}

// Allow is an allow list of uids and gids. Root is always allowed.
type Allow struct {
	UIDs map[uint32]bool
	GIDs map[uint32]bool
}

// ParseAllow parses a list of numeric uids, user names and group names
// ("group:NAME" or a name that is not a user). An empty list allows only
// the daemon's own uid, self.
func ParseAllow(list []string, self uint32) (Allow, error) {
	a := Allow{UIDs: map[uint32]bool{self: true}, GIDs: map[uint32]bool{}}
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if err := a.add(s); err != nil {
				return Allow{}, err
			}
		}
	}
	return a, nil
}

func (a Allow) add(s string) error {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		a.UIDs[uint32(n)] = true
		return nil
	}
	if g, ok := strings.CutPrefix(s, "group:"); ok {
		return a.addGroup(g)
	}
	if u, err := user.Lookup(s); err == nil {
		n, _ := strconv.ParseUint(u.Uid, 10, 32)
		a.UIDs[uint32(n)] = true
		return nil
	}
	if err := a.addGroup(s); err != nil {
		return fmt.Errorf("allow list entry %q is neither a uid, a user nor a group", s)
	}
	return nil
}

func (a Allow) addGroup(name string) error {
	g, err := user.LookupGroup(name)
	if err != nil {
		return fmt.Errorf("allow list: group %q: %w", name, err)
	}
	n, _ := strconv.ParseUint(g.Gid, 10, 32)
	a.GIDs[uint32(n)] = true
	return nil
}

// Permits reports whether a peer with uid and primary gid is allowed.
func (a Allow) Permits(uid, gid uint32) bool {
	return uid == 0 || a.UIDs[uid] || a.GIDs[gid]
}

func (c *Config) setDefaults() {
	if c.RuntimeDir == "" {
		c.RuntimeDir = proto.DefaultRuntimeDir()
	}
	if c.StateDir == "" {
		c.StateDir = proto.DefaultStateDir()
	}
	if c.Geometry == (region.Geometry{}) {
		c.Geometry = region.DefaultGeometry()
	}
	if c.MaxPath == 0 {
		c.MaxPath = proto.DefaultMaxPath
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = proto.DefaultMaxMessage
	}
	if c.MaxHandshakes == 0 {
		c.MaxHandshakes = DefaultMaxHandshakes
	}
	if c.MaxHandshakesPerUID == 0 {
		c.MaxHandshakesPerUID = DefaultMaxHandshakesPerUID
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	if c.MaxPath < 1 || c.MaxPath > 4096 {
		return fmt.Errorf("--max-path-length=%d: must be from 1 to 4096", c.MaxPath)
	}
	if c.MaxMessage < 4096 || c.MaxMessage > 64<<20 {
		return fmt.Errorf("--max-message-size=%d: must be from 4096 to %d bytes", c.MaxMessage, 64<<20)
	}
	if c.MaxHandshakes < 1 || c.MaxHandshakes > 65536 {
		return fmt.Errorf("--max-handshakes=%d: must be from 1 to 65536", c.MaxHandshakes)
	}
	if c.MaxHandshakesPerUID < 1 || c.MaxHandshakesPerUID > c.MaxHandshakes {
		return fmt.Errorf("--max-handshakes-per-uid=%d: must be from 1 to --max-handshakes (%d)", c.MaxHandshakesPerUID, c.MaxHandshakes)
	}
	return c.Geometry.Validate()
}
