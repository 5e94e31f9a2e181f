package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/region"
	"github.com/fieldd/fieldd/internal/shm"
)

const otherUser = "fieldd-test"

// childReport is what the child process prints as JSON.
type childReport struct {
	Reply      string // reply type to hello
	Code       string // error code, if the reply is an error
	Message    string
	Fds        int
	MapRW      string // error of mapping the values fd read-write
	OpenByPath string // error of opening the values file by its path
	ClaimCode  string
	UpdateCode string
}

func TestMain(m *testing.M) {
	if sock := os.Getenv("FIELDD_TEST_CHILD_SOCK"); sock != "" {
		json.NewEncoder(os.Stdout).Encode(runChild(sock, os.Getenv("FIELDD_TEST_CHILD_VALUES")))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild connects as whatever uid it runs as and tries what a reader
// could try against the daemon and the region.
func runChild(sock, valuesPath string) (r childReport) {
	nc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		r.Message = err.Error()
		return r
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := func(typ proto.Type, v any) (proto.Header, []byte, []*os.File) {
		msg, _ := proto.Encode(nil, typ, 1, v)
		nc.Write(msg)
		buf := make([]byte, proto.DefaultMaxMessage)
		n, files, err := shm.RecvFiles(nc, buf)
		if err != nil {
			return proto.Header{}, nil, nil
		}
		h, body, _ := proto.DecodeHeader(buf[:n], len(buf))
		return h, body, files
	}
	code := func(body []byte) string {
		var e proto.Error
		proto.DecodeBody(body, &e)
		return e.Code
	}

	h, body, files := req(proto.TypeHello, proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion})
	r.Reply, r.Fds = h.Type.String(), len(files)
	if h.Type == proto.TypeError {
		var e proto.Error
		proto.DecodeBody(body, &e)
		r.Code, r.Message = e.Code, e.Message
		return r
	}
	r.MapRW = "<nil>"
	if m, err := shm.Map(files[0], true); err != nil {
		r.MapRW = err.Error()
	} else {
		m.Close()
	}
	r.OpenByPath = "<nil>"
	if f, err := os.OpenFile(valuesPath, os.O_RDWR, 0); err != nil {
		r.OpenByPath = err.Error()
	} else {
		f.Close()
	}
	_, body, _ = req(proto.TypeClaim, proto.Claim{Prefixes: []string{"x"}})
	r.ClaimCode = code(body)
	_, body, _ = req(proto.TypeFieldIDs, proto.FieldIDs{Paths: []string{"x/y"}, Create: true})
	_, body, _ = req(proto.TypeUpdate, proto.Update{ID: 1, Value: []byte("forged")})
	r.UpdateCode = code(body)
	return r
}

// runAsOther runs this test binary as the other user against sock.
func runAsOther(t *testing.T, s *Server, uid, gid int) childReport {
	t.Helper()
	dir, err := os.MkdirTemp("", "fieldd-uid")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "child")
	src, _ := os.Open(os.Args[0])
	dst, _ := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	io.Copy(dst, src)
	src.Close()
	dst.Close()

	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), "FIELDD_TEST_CHILD_SOCK="+s.SocketPath(),
		"FIELDD_TEST_CHILD_VALUES="+filepath.Join(s.cfg.RuntimeDir, region.ValuesFile))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child as uid %d: %v\n%s", uid, err, out)
	}
	var r childReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return r
}

// otherUID returns the uid and gid of a second user, creating it.
func otherUID(t *testing.T) (int, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as another uid")
	}
	u, err := user.Lookup(otherUser)
	if err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", otherUser).CombinedOutput(); err != nil {
			t.Skipf("useradd %s: %v %s", otherUser, err, out)
		}
		if u, err = user.Lookup(otherUser); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// openPath makes the directories above the runtime directory traversable,
// as /run and $XDG_RUNTIME_DIR are.
func openPath(t *testing.T, s *Server) {
	for d := filepath.Dir(s.cfg.RuntimeDir); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
}

func TestOtherUIDRejected(t *testing.T) {
	uid, gid := otherUID(t)
	s := startServer(t, nil)
	openPath(t, s)
	r := runAsOther(t, s, uid, gid)
	if r.Code != proto.CodeDenied || r.Fds != 0 {
		t.Fatalf("other uid got reply %s code %q with %d fds (%s); want denied and no fds", r.Reply, r.Code, r.Fds, r.Message)
	}
	if want := fmt.Sprintf("uid %d", uid); !contains(r.Message, want) || !contains(r.Message, "--readers") {
		t.Errorf("message %q lacks %q or the flag", r.Message, want)
	}
	if n := len(s.Stats().Slots); n != 0 {
		t.Errorf("%d slots in use after the rejection", n)
	}
}

func TestReaderUIDCannotWrite(t *testing.T) {
	uid, gid := otherUID(t)
	s := startServer(t, func(c *Config) { c.Readers.UIDs[uint32(uid)] = true })
	openPath(t, s)
	r := runAsOther(t, s, uid, gid)
	if r.Reply != proto.TypeWelcome.String() || r.Fds != 2 {
		t.Fatalf("reader got %s with %d fds (%s %s)", r.Reply, r.Fds, r.Code, r.Message)
	}
	if r.MapRW == "<nil>" {
		t.Error("reader mapped the values file read-write")
	}
	if r.OpenByPath == "<nil>" {
		t.Error("reader opened the values file by path read-write")
	}
	if r.ClaimCode != proto.CodeDenied {
		t.Errorf("reader claim got code %q, want denied", r.ClaimCode)
	}
	if r.UpdateCode != proto.CodeDenied {
		t.Errorf("reader update got code %q, want denied", r.UpdateCode)
	}
	if v := s.reg.Version(1); v != 0 {
		t.Errorf("field 1 has version %d after a reader's update", v)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
