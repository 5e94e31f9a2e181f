package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/shm"
)

// request sends one request and waits for its reply, decoding a reply of
// type want into out. Replies to earlier requests that timed out are
// skipped. It returns the descriptors that came with the reply.
func (c *Client) request(ctx context.Context, typ proto.Type, body any, want proto.Type, out any) ([]*os.File, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if c.closed.Load() && typ != proto.TypeHello {
		return nil, ErrClosed
	}
	c.nextID++
	id := c.nextID
	msg, err := proto.Encode(nil, typ, id, body)
	if err != nil {
		return nil, err
	}
	if max := c.welcome.MaxMessage; max > 0 && len(msg) > max {
		return nil, fmt.Errorf("%s request of %d bytes exceeds the daemon's message limit of %d bytes (fieldd --max-message-size)",
			typ, len(msg), max)
	}

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(requestTimeout)
	}
	c.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := c.conn.Write(msg); err != nil {
		return nil, c.connErr(ctx, typ, err)
	}
	for {
		n, files, err := shm.RecvFiles(c.conn, c.rbuf)
		if err != nil {
			return nil, c.connErr(ctx, typ, err)
		}
		h, rbody, err := proto.DecodeHeader(c.rbuf[:n], len(c.rbuf))
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("%s: bad reply from fieldd: %w", typ, err)
		}
		if h.ID != id {
			closeFiles(files)
			continue
		}
		switch h.Type {
		case proto.TypeError:
			closeFiles(files)
			var e proto.Error
			if err := proto.DecodeBody(rbody, &e); err != nil {
				return nil, fmt.Errorf("%s: bad error reply from fieldd: %w", typ, err)
			}
			return nil, &Error{Code: e.Code, Message: e.Message, Holder: int(e.Holder)}
		case want:
			if err := proto.DecodeBody(rbody, out); err != nil {
				closeFiles(files)
				return nil, fmt.Errorf("%s: bad reply from fieldd: %w", typ, err)
			}
			return files, nil
		}
		closeFiles(files)
		return nil, fmt.Errorf("%s: fieldd replied with %s, want %s", typ, h.Type, want)
	}
}

func (c *Client) connErr(ctx context.Context, typ proto.Type, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", typ, ctx.Err())
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%s: fieldd did not reply in time: %w", typ, err)
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%s: %w", typ, ErrDisconnected)
	}
	return fmt.Errorf("%s: connection to fieldd failed: %w", typ, err)
}

func ctxOrTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), requestTimeout)
}
