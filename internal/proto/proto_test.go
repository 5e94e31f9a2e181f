package proto

import (
	"errors"
	"strings"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	in := FieldIDs{Paths: []string{"a/b", "c"}, Create: true}
	msg, err := Encode(nil, TypeFieldIDs, 42, in)
	if err != nil {
		t.Fatal(err)
	}
	h, body, err := DecodeHeader(msg, DefaultMaxMessage)
	if err != nil {
		t.Fatal(err)
	}
	if h.Type != TypeFieldIDs || h.ID != 42 || h.Version != Version {
		t.Fatalf("header = %+v", h)
	}
	var out FieldIDs
	if err := DecodeBody(body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Paths) != 2 || out.Paths[1] != "c" || !out.Create {
		t.Fatalf("body = %+v", out)
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	good, _ := Encode(nil, TypeStats, 1, nil)
	tests := []struct {
		name string
		msg  []byte
		max  int
		want error
	}{
		{"empty", nil, 100, ErrShort},
		{"truncated", good[:5], 100, ErrShort},
		{"oversized", make([]byte, 101), 100, ErrTooLarge},
		{"bad magic", []byte("XXXXXXXX"), 100, ErrMagic},
		{"other version", []byte{'F', 'd', Version + 1, byte(TypeStats), 0, 0, 0, 0}, 100, ErrVersion},
		{"type zero", []byte{'F', 'd', Version, 0, 0, 0, 0, 0}, 100, ErrType},
		{"unknown type", []byte{'F', 'd', Version, 200, 0, 0, 0, 0}, 100, ErrType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeHeader(tt.msg, tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVersionErrorNamesBoth(t *testing.T) {
	_, _, err := DecodeHeader([]byte{'F', 'd', 9, byte(TypeHello), 0, 0, 0, 0}, 100)
	if err == nil || !strings.Contains(err.Error(), "9") || !strings.Contains(err.Error(), "1") {
		t.Fatalf("err = %v, want both versions named", err)
	}
}

func TestDecodeBodyRejects(t *testing.T) {
	var w Watch
	for _, body := range []string{"", "{", `{"ids":[1]} x`, `{"unknown":1}`, `{"ids":"x"}`, `{"ids":[-1]}`} {
		if err := DecodeBody([]byte(body), &w); !errors.Is(err, ErrBody) {
			t.Errorf("DecodeBody(%q) = %v, want ErrBody", body, err)
		}
	}
}

func TestValidatePath(t *testing.T) {
	good := []string{"a", "a/b", "cpu/0/user", "A-b_c.d/9", strings.Repeat("x", 256)}
	for _, p := range good {
		if err := ValidatePath(p, 256); err != nil {
			t.Errorf("ValidatePath(%q) = %v", p, err)
		}
	}
	bad := []string{"", "/a", "a/", "a//b", "a b", "a\x00b", "é", "a/\xff", strings.Repeat("x", 257)}
	for _, p := range bad {
		err := ValidatePath(p, 256)
		if !errors.Is(err, ErrPath) {
			t.Errorf("ValidatePath(%q) = %v, want ErrPath", p, err)
		}
	}
}

func TestHasPrefixAtSegments(t *testing.T) {
	tests := []struct {
		path, prefix string
		want         bool
	}{
		{"a/b", "a", true},
		{"a", "a", true},
		{"ab", "a", false},
		{"a/b/c", "a/b", true},
		{"a/bc", "a/b", false},
	}
	for _, tt := range tests {
		if got := HasPrefix(tt.path, tt.prefix); got != tt.want {
			t.Errorf("HasPrefix(%q, %q) = %v", tt.path, tt.prefix, got)
		}
	}
	if !Overlap("a", "a/b") || !Overlap("a/b", "a") || Overlap("a/b", "a/c") {
		t.Error("Overlap is wrong")
	}
}

// FuzzDecode feeds arbitrary packets to the decoder and every body type
// the daemon and the client decode.
func FuzzDecode(f *testing.F) {
	seed, _ := Encode(nil, TypeFieldIDs, 1, FieldIDs{Paths: []string{"a/b"}, Create: true})
	f.Add(seed)
	seed, _ = Encode(nil, TypeHello, 7, Hello{Proto: 1, Layout: 1, Name: "x"})
	f.Add(seed)
	seed, _ = Encode(nil, TypeUpdate, 2, Update{ID: 3, Value: []byte("v")})
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, body, err := DecodeHeader(msg, 1<<16)
		if err != nil {
			return
		}
		if len(body) != len(msg)-HeaderSize {
			t.Fatalf("body of %d bytes from a %d-byte message", len(body), len(msg))
		}
		targets := []any{&Hello{}, &Welcome{}, &FieldIDs{}, &IDs{}, &FieldPaths{}, &Paths{},
			&Watch{}, &Update{}, &Claim{}, &Claimed{}, &List{}, &ListReply{}, &StatsReply{}, &Error{}}
		_ = DecodeBody(body, targets[int(h.Type)%len(targets)])
		for _, p := range []string{string(body)} {
			_ = ValidatePath(p, 256)
		}
	})
}
