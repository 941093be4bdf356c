package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
)

// connSender posts events over one keep-alive HTTP/1.1 connection of its
// own, writing each request in one piece and reading the answer with
// net/http's parser. The load generator shares the machine with what it
// measures: net/http's client spends about twice the CPU per request (a
// transport with goroutines and channels per connection, header maps,
// contexts), which the endpoint under test would not get. Stripe's senders
// do not run on the endpoint's machine.
type connSender struct {
	addr, requestLine, host string
	secret                  string
	timeout                 time.Duration

	c   net.Conn
	br  *bufio.Reader
	buf []byte
}

func newConnSender(u *url.URL, secret string, timeout time.Duration) *connSender {
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &connSender{addr: addr, requestLine: "POST " + path + " HTTP/1.1\r\n", host: u.Host, secret: secret, timeout: timeout}
}

func (s *connSender) close() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

// post sends one event and reads the whole answer; a connection that failed
// or that the server wants closed is closed, and the next post dials again.
func (s *connSender) post(ctx context.Context, payload []byte) (status int, detail string, err error) {
	if s.c == nil {
		d := net.Dialer{Timeout: s.timeout}
		if s.c, err = d.DialContext(ctx, "tcp", s.addr); err != nil {
			s.c = nil
			return 0, "", err
		}
		s.br = bufio.NewReaderSize(s.c, 4096)
	}
	stop := context.AfterFunc(ctx, func() { s.c.SetDeadline(time.Unix(1, 0)) }) //nolint:errcheck // unblocks the worker
	defer stop()
	if err := s.c.SetDeadline(time.Now().Add(s.timeout)); err != nil {
		s.close()
		return 0, "", err
	}
	b := append(s.buf[:0], s.requestLine...)
	b = append(b, "Host: "...)
	b = append(b, s.host...)
	b = append(b, "\r\nContent-Type: application/json; charset=utf-8\r\nUser-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\nStripe-Signature: "...)
	b = append(b, eventfixtures.Sign(payload, s.secret, time.Now())...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, payload...)
	s.buf = b
	if _, err := s.c.Write(b); err != nil {
		s.close()
		return 0, "", err
	}
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		s.close()
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the server closed the connection without an answer
		}
		return 0, "", err
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		detail = string(bytes.TrimSpace(b))
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil || resp.Close {
		s.close()
	}
	return resp.StatusCode, detail, nil
}
