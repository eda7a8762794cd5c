package main

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// Bounds on websocket connections that have not authenticated yet. Until
// connection_init carries a valid token a connection is anonymous: what it may
// hold is kept small, it may not outlive the init timeout, and only so many may
// wait at once, so anonymous clients cannot grow memory, goroutines or file
// descriptors without bound.
const (
	// wsInitTimeout is how long a connection has to send a valid connection_init.
	wsInitTimeout = 10 * time.Second
	// wsInitGrace is how long after a refusal or the init timeout the socket may
	// take to finish its close handshake before it is closed outright.
	wsInitGrace = 3 * time.Second
	// wsPreInitReadLimit bounds a message read before authentication: a
	// connection_init with a token (at most 8 KiB) fits.
	wsPreInitReadLimit = 16 << 10
	// wsMaxPendingConnections bounds the connections waiting for their
	// connection_init on this replica; more are answered 503 before the upgrade.
	wsMaxPendingConnections = 256
)

// pendingGate counts the connections not authenticated yet.
type pendingGate struct{ slots chan struct{} }

func newPendingGate(n int) *pendingGate { return &pendingGate{slots: make(chan struct{}, n)} }

// enter takes a slot, or reports that every slot is taken.
func (g *pendingGate) enter() bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (g *pendingGate) leave() { <-g.slots }

// wsGuard is the anonymous phase of one connection: it holds a pending slot until
// the connection authenticates or ends, and closes the socket outright when it is
// still anonymous after the init timeout, or when the transport gave up on it
// without closing it (gqlgen returns without a close frame for a connection_init
// payload that is not a JSON object).
type wsGuard struct {
	gate *pendingGate

	mu     sync.Mutex
	netc   net.Conn // the hijacked connection; nil before the upgrade
	authed bool
	left   bool
	timer  *time.Timer
}

func newWSGuard(gate *pendingGate) *wsGuard {
	g := &wsGuard{gate: gate}
	g.timer = time.AfterFunc(wsInitTimeout+wsInitGrace, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if !g.authed && g.netc != nil {
			_ = g.netc.Close()
		}
	})
	return g
}

// authenticated ends the anonymous phase: the slot is given back and the socket
// lives as long as its token.
func (g *wsGuard) authenticated() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.authed = true
	g.timer.Stop()
	g.leaveLocked()
}

// done is called when the transport returns: a socket it left open is closed after
// the grace a close handshake needs.
func (g *wsGuard) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.timer.Stop()
	g.leaveLocked()
	if netc := g.netc; netc != nil {
		time.AfterFunc(wsInitGrace, func() { _ = netc.Close() })
	}
}

func (g *wsGuard) leaveLocked() {
	if !g.left {
		g.left = true
		g.gate.leave()
	}
}

func (g *wsGuard) hijacked(c net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.netc = c
}

// guardedWriter hands the hijacked connection of a websocket upgrade to its guard.
type guardedWriter struct {
	http.ResponseWriter
	guard *wsGuard
}

func (w guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.guard.hijacked(c)
	}
	return c, rw, err
}

func (w guardedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
