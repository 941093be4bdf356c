package mcpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// AllowedHostsEnv lists the host names /mcp answers to besides loopback
// ones: the public name behind a reverse proxy.
const AllowedHostsEnv = "BILLWIRE_MCP_ALLOWED_HOSTS"

// HTTPPath is where billwire serve answers MCP over streamable HTTP.
const HTTPPath = "/mcp"

// HTTPOptions configure MCP over HTTP.
type HTTPOptions struct {
	Store *store.Store
	// Origins are the browser origins allowed (BILLWIRE_ALLOWED_ORIGINS);
	// a request without Origin is not a browser's and passes.
	Origins auth.Origins
	// AllowedHosts are the Host names accepted besides loopback ones
	// (BILLWIRE_MCP_ALLOWED_HOSTS). When set, no other host is accepted.
	AllowedHosts []string
	// RevocationPoll is how often revocations are looked for (default 1s);
	// a revoked key's sessions and streams end within it.
	RevocationPoll time.Duration
	Log            zerolog.Logger
}

// HTTP serves an MCP server over streamable HTTP to callers with an API key
// of scope mcp or mcp:live. Each session is bound to the key that opened
// it; a revoked key's sessions end and its open streams are cut.
type HTTP struct {
	mcp   *server.StreamableHTTPServer
	opts  HTTPOptions
	hosts map[string]bool

	mu       sync.Mutex
	sessions map[string]*httpSession // by Mcp-Session-Id
	inflight map[int64]map[*inflightReq]struct{}
	keys     map[string]cachedKey

	stop chan struct{}
	done chan struct{}
}

type httpSession struct {
	key int64 // 0 until the initialize answer is seen
}

type inflightReq struct{ cancel context.CancelFunc }

type cachedKey struct {
	key   *store.APIKey
	until time.Time
}

// keyTTL is how long a verified key is trusted before asking the database again.
const keyTTL = 2 * time.Second

// NewHTTP wraps s; Close stops its revocation watcher.
func NewHTTP(s *server.MCPServer, o HTTPOptions) *HTTP {
	if o.RevocationPoll <= 0 {
		o.RevocationPoll = time.Second
	}
	h := &HTTP{opts: o, hosts: map[string]bool{}, sessions: map[string]*httpSession{},
		inflight: map[int64]map[*inflightReq]struct{}{}, keys: map[string]cachedKey{},
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, host := range o.AllowedHosts {
		h.hosts[strings.ToLower(host)] = true
	}
	h.mcp = server.NewStreamableHTTPServer(s,
		server.WithSessionIdManager(sessionIDs{h}),
		// billwire checks hosts itself, with BILLWIRE_MCP_ALLOWED_HOSTS for a proxy.
		server.WithDisableLocalhostProtection(true),
		server.WithHeartbeatInterval(25*time.Second),
		server.WithSessionIdleTTL(time.Hour),
		server.WithStreamableHTTPLogger(slog.New(zerolog.NewSlogHandler(o.Log))),
	)
	go h.watchRevocations()
	return h
}

// ParseAllowedHosts reads BILLWIRE_MCP_ALLOWED_HOSTS: host names separated
// by commas or spaces, without scheme or path (a port is allowed).
func ParseAllowedHosts(list string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		if strings.Contains(f, "/") || strings.Contains(f, "@") {
			return nil, fmt.Errorf("%s: %q is not a host name: give names like mcp.example.com (no scheme, no path)", AllowedHostsEnv, f)
		}
		out = append(out, f)
	}
	return out, nil
}

// Close stops the revocation watcher and ends every session.
func (h *HTTP) Close() {
	select {
	case <-h.stop:
		return
	default:
	}
	close(h.stop)
	<-h.done
	h.mcp.CloseSessions(context.Background())
}

func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.checkHost(r); err != "" {
		refuse(w, http.StatusForbidden, "host_not_allowed", err)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !h.opts.Origins.AllowsOrigin(origin) {
		refuse(w, http.StatusForbidden, "origin_not_allowed", fmt.Sprintf("origin %q is not in BILLWIRE_ALLOWED_ORIGINS", origin))
		return
	}
	rem, status, code, msg := h.authenticate(r)
	if rem == nil {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="billwire"`)
		}
		refuse(w, status, code, msg)
		return
	}
	sid := r.Header.Get(server.HeaderKeySessionID)
	if sid != "" {
		if ok, msg := h.sessionOf(sid, rem.KeyID); !ok {
			refuse(w, http.StatusNotFound, "unknown_session", msg)
			return
		}
	}
	// Streams (GET, and answers waiting on the human through elicitation)
	// outlive the server's write timeout; they end with the client, the
	// session or the key.
	http.NewResponseController(w).SetWriteDeadline(time.Time{}) //nolint:errcheck
	ctx, cancel := context.WithCancel(auth.WithRemote(r.Context(), rem))
	defer cancel()
	req := h.track(rem.KeyID, cancel)
	defer h.untrack(rem.KeyID, req)
	bw := &bindWriter{ResponseWriter: w, h: h, key: rem.KeyID, bind: sid == ""}
	h.mcp.ServeHTTP(bw, r.WithContext(ctx))
}

// checkHost keeps the DNS-rebinding check: on a loopback connection the Host
// must be a loopback name or an allowed host; with BILLWIRE_MCP_ALLOWED_HOSTS
// set, only those and loopback names are accepted on any connection.
func (h *HTTP) checkHost(r *http.Request) string {
	host := strings.ToLower(r.Host)
	if isLoopback(host) || h.hosts[host] || h.hosts[stripPort(host)] {
		return ""
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if len(h.hosts) == 0 && (local == nil || !isLoopback(local.String())) {
		return ""
	}
	return fmt.Sprintf("host %q is not served: add it to %s (the public host name behind your proxy)", r.Host, AllowedHostsEnv)
}

func stripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

func isLoopback(addr string) bool {
	host := strings.Trim(stripPort(addr), "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authenticate accepts an active API key of scope mcp or mcp:live.
func (h *HTTP) authenticate(r *http.Request) (rem *auth.Remote, status int, code, msg string) {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return nil, http.StatusUnauthorized, "unauthenticated", "missing credentials: send Authorization: Bearer <bwk_… key of scope mcp> (billwire apikeys create --env test --name agent --scope mcp)"
	}
	tok, ok := auth.BearerToken(hdr)
	if !ok || !strings.HasPrefix(tok, auth.APIKeyPrefix) {
		return nil, http.StatusUnauthorized, "invalid_api_key", "/mcp takes a billwire API key of scope mcp: Authorization: Bearer bwk_…"
	}
	k, err := h.key(r.Context(), auth.HashAPIKey(tok))
	if errors.Is(err, store.ErrNotFound) {
		return nil, http.StatusUnauthorized, "invalid_api_key", fmt.Sprintf("API key %s is unknown or revoked; create one with `billwire apikeys create --env test --name agent --scope mcp`", auth.MaskAPIKey(tok))
	}
	if err != nil {
		h.opts.Log.Error().Err(err).Msg("mcp http: looking up an API key failed")
		return nil, http.StatusServiceUnavailable, "unavailable", "billwire could not check the API key (database unreachable); try again"
	}
	if !k.Scope.MCP() {
		return nil, http.StatusForbidden, "wrong_key_scope", fmt.Sprintf("API key %s (%q) has scope %s, which opens the session API, not MCP; create an MCP key: `billwire apikeys create --env %s --name agent --scope mcp`", k.Hint, k.Name, k.Scope, k.Env)
	}
	return &auth.Remote{KeyID: k.ID, KeyName: k.Name, Env: k.Env, Scope: k.Scope}, 0, "", ""
}

func (h *HTTP) key(ctx context.Context, hash []byte) (*store.APIKey, error) {
	now := time.Now()
	h.mu.Lock()
	c, ok := h.keys[string(hash)]
	h.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.key, nil
	}
	k, err := h.opts.Store.APIKeyByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if len(h.keys) > 1000 {
		clear(h.keys)
	}
	h.keys[string(hash)] = cachedKey{key: k, until: now.Add(keyTTL)}
	h.mu.Unlock()
	return k, nil
}

// sessionOf checks that session sid is live and was opened by key.
func (h *HTTP) sessionOf(sid string, key int64) (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sessions[sid]
	switch {
	case !ok:
		return false, "MCP session " + sid + " is unknown or has ended; initialize a new one"
	case s.key != key:
		return false, "MCP session " + sid + " was opened with another API key; initialize a new session with this one"
	}
	return true, ""
}

func (h *HTTP) track(key int64, cancel context.CancelFunc) *inflightReq {
	req := &inflightReq{cancel: cancel}
	h.mu.Lock()
	m := h.inflight[key]
	if m == nil {
		m = map[*inflightReq]struct{}{}
		h.inflight[key] = m
	}
	m[req] = struct{}{}
	h.mu.Unlock()
	return req
}

func (h *HTTP) untrack(key int64, req *inflightReq) {
	h.mu.Lock()
	delete(h.inflight[key], req)
	if len(h.inflight[key]) == 0 {
		delete(h.inflight, key)
	}
	h.mu.Unlock()
}

// watchRevocations ends the sessions and cuts the requests of revoked keys.
func (h *HTTP) watchRevocations() {
	defer close(h.done)
	t := time.NewTicker(h.opts.RevocationPoll)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ids := h.boundKeys()
		if len(ids) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		revoked, err := h.opts.Store.RevokedAPIKeys(ctx, ids)
		cancel()
		if err != nil {
			h.opts.Log.Warn().Err(err).Msg("mcp http: checking for revoked keys failed; retrying")
			continue
		}
		for _, id := range revoked {
			h.endKey(id)
		}
	}
}

func (h *HTTP) boundKeys() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[int64]bool{}
	var ids []int64
	add := func(id int64) {
		if id != 0 && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, s := range h.sessions {
		add(s.key)
	}
	for id := range h.inflight {
		add(id)
	}
	return ids
}

// endKey terminates key's sessions in mcp-go (as a DELETE would) and cancels
// its requests in flight, the open streams among them.
func (h *HTTP) endKey(key int64) {
	h.mu.Lock()
	var sids []string
	for sid, s := range h.sessions {
		if s.key == key {
			sids = append(sids, sid)
		}
	}
	for req := range h.inflight[key] {
		req.cancel()
	}
	clear(h.keys)
	h.mu.Unlock()
	for _, sid := range sids {
		del, _ := http.NewRequest(http.MethodDelete, HTTPPath, nil) // a constant path: no error
		del.Header.Set(server.HeaderKeySessionID, sid)
		h.mcp.ServeHTTP(discardResponse{http.Header{}}, del)
	}
	h.opts.Log.Info().Int64("key_id", key).Int("sessions", len(sids)).Msg("mcp http: key revoked; its sessions ended")
}

// sessionIDs is the session id manager mcp-go asks: ids are random, and a
// session is valid until it is deleted or its key revoked.
type sessionIDs struct{ h *HTTP }

func (m sessionIDs) Generate() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	sid := "bws_" + hex.EncodeToString(b)
	m.h.mu.Lock()
	m.h.sessions[sid] = &httpSession{}
	m.h.mu.Unlock()
	return sid
}

func (m sessionIDs) Validate(sid string) (bool, error) {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	if _, ok := m.h.sessions[sid]; !ok {
		return false, fmt.Errorf("unknown session %q", sid)
	}
	return false, nil
}

func (m sessionIDs) Terminate(sid string) (bool, error) {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	delete(m.h.sessions, sid)
	return false, nil
}

// bindWriter binds the session an initialize answer opens to the key that
// asked for it, before the answer leaves.
type bindWriter struct {
	http.ResponseWriter
	h    *HTTP
	key  int64
	bind bool
}

func (w *bindWriter) WriteHeader(code int) {
	if w.bind {
		w.bind = false
		if sid := w.Header().Get(server.HeaderKeySessionID); sid != "" {
			w.h.mu.Lock()
			if s, ok := w.h.sessions[sid]; ok && s.key == 0 {
				s.key = w.key
			}
			w.h.mu.Unlock()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *bindWriter) Write(b []byte) (int, error) {
	if w.bind {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *bindWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *bindWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// refuse answers a refusal before MCP: {"error": {"code", "message"}}.
func refuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}}) //nolint:errcheck
}

// remoteEnvError refuses an MCP HTTP caller another environment than its key's.
func remoteEnvError(rem *auth.Remote, env vocab.Env) error {
	if rem == nil || env == "" || env == rem.Env {
		return nil
	}
	return fmt.Errorf("environment_not_allowed: this MCP API key %q belongs to the %s environment; call with env %q, or connect with a %s key", rem.KeyName, rem.Env, rem.Env, env)
}

// discardResponse is the answer to a request billwire makes to mcp-go's
// handler itself (ending a revoked key's session): nobody reads it.
type discardResponse struct{ h http.Header }

func (d discardResponse) Header() http.Header       { return d.h }
func (discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (discardResponse) WriteHeader(int)             {}
