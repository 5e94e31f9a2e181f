//go:build linux

package shm

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Cred is the identity of the process on the other end of a unix socket,
// as the kernel recorded it when the connection was made.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// PeerCred returns the SO_PEERCRED credentials of conn's peer.
func PeerCred(conn *net.UnixConn) (Cred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var serr error
	err = raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	return Cred{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid}, nil
}

// SendFiles sends msg as one packet with the descriptors of files attached
// as SCM_RIGHTS.
func SendFiles(conn *net.UnixConn, msg []byte, files ...*os.File) error {
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	n, oobn, err := conn.WriteMsgUnix(msg, oob, nil)
	if err != nil {
		return fmt.Errorf("send message with %d fds: %w", len(files), err)
	}
	if n != len(msg) || oobn != len(oob) {
		return fmt.Errorf("send message with %d fds: short write of %d/%d bytes", len(files), n, len(msg))
	}
	return nil
}

// MaxFiles is the largest number of descriptors [RecvFiles] accepts in one
// message; extra ones are closed and reported as an error.
const MaxFiles = 4

// RecvFiles reads one packet into buf and returns its length and the files
// that came with it. Files beyond [MaxFiles] and files of a truncated
// message are closed, never leaked.
func RecvFiles(conn *net.UnixConn, buf []byte) (int, []*os.File, error) {
	oob := make([]byte, unix.CmsgSpace(MaxFiles*4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return 0, nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
		if perr != nil {
			return 0, nil, fmt.Errorf("parse control message: %w", perr)
		}
		for _, m := range msgs {
			got, rerr := unix.ParseUnixRights(&m)
			if rerr == nil {
				fds = append(fds, got...)
			}
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || len(fds) > MaxFiles {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return 0, nil, fmt.Errorf("receive message: truncated (%d bytes, %d fds)", n, len(fds))
	}
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd))
	}
	return n, files, nil
}
