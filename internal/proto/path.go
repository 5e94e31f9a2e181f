package proto

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultMaxPath is the default limit on a field path, in bytes.
const DefaultMaxPath = 256

// ErrPath is wrapped by every error of [ValidatePath].
var ErrPath = errors.New("invalid field path")

// ValidatePath checks a field path: segments separated by '/', each one
// non-empty and made of ASCII letters, digits, '_', '-' and '.', at most
// max bytes in all. Paths are case-sensitive.
func ValidatePath(p string, max int) error {
	if p == "" {
		return fmt.Errorf("%w: path is empty", ErrPath)
	}
	if len(p) > max {
		return fmt.Errorf("%w: %.40q... is %d bytes, the limit is %d (raise --max-path-length)", ErrPath, p, len(p), max)
	}
	seg := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			if seg == 0 {
				return fmt.Errorf("%w: %q has an empty segment at byte %d", ErrPath, p, i)
			}
			seg = 0
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return fmt.Errorf("%w: %q has byte %#02x at %d; allowed are letters, digits, '_', '-', '.' and '/' between segments", ErrPath, p, c, i)
		}
		seg++
	}
	if seg == 0 {
		return fmt.Errorf("%w: %q ends with '/'", ErrPath, p)
	}
	return nil
}

// HasPrefix reports whether path p lies under prefix: equal to it or
// continuing it with a '/'.
func HasPrefix(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix) && len(p) > len(prefix) && p[len(prefix)] == '/'
}

// Overlap reports whether two prefixes share any path.
func Overlap(a, b string) bool { return HasPrefix(a, b) || HasPrefix(b, a) }
