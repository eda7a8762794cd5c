package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// closeDuplicateOperation is graphql-transport-ws's close code for a subscribe
// message whose id names an operation still running on the connection.
const closeDuplicateOperation = 4409

// graphqlTransportWS is the subprotocol whose operation ids operationIDs tracks
// (the legacy subscriptions-transport-ws protocol has no such rule).
const graphqlTransportWS = "graphql-transport-ws"

var errDuplicateOperation = errors.New("duplicate operation id")

// operationIDs tracks the ids of the operations running on one
// graphql-transport-ws connection, as the protocol requires: an id is taken by a
// client's subscribe and freed by the server's complete or error for it, or by the
// client's complete. A subscribe reusing a taken id closes the connection with
// 4409; gqlgen would otherwise start a second operation under the same id, whose
// messages the client cannot tell apart from the first one's, and which takes
// the first one's place in gqlgen's table of operations to cancel.
type operationIDs struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	last string // the type of the last client message
}

// envelope is the part of a graphql-transport-ws message operationIDs reads.
type envelope struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// received reads one client message. It returns false for a subscribe whose id
// is taken. Messages that do not decode are left to gqlgen to refuse; it notes
// the type of each (protocolClose reads it).
func (o *operationIDs) received(data []byte) bool {
	var m envelope
	if json.Unmarshal(data, &m) != nil {
		m.Type = ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = m.Type
	if m.ID == "" {
		return true
	}
	switch m.Type {
	case "subscribe":
		if _, taken := o.ids[m.ID]; taken {
			return false
		}
		if o.ids == nil {
			o.ids = map[string]struct{}{}
		}
		o.ids[m.ID] = struct{}{}
	case "complete":
		delete(o.ids, m.ID)
	}
	return true
}

// sent notes a server message: complete and error end their operation.
func (o *operationIDs) sent(data []byte) {
	var m envelope
	if json.Unmarshal(data, &m) != nil || m.ID == "" || (m.Type != "complete" && m.Type != "error") {
		return
	}
	o.mu.Lock()
	delete(o.ids, m.ID)
	o.mu.Unlock()
}

// NextReader reads the next client message whole (the read limit bounds it) so
// its operation id can be checked; a duplicate subscribe closes the connection
// with 4409 and ends gqlgen's read loop.
func (c *sessionConn) NextReader() (int, io.Reader, error) {
	typ, r, err := c.WebsocketConn.NextReader()
	if err != nil || c.Subprotocol() != graphqlTransportWS {
		return typ, r, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return typ, nil, err
	}
	if !c.ops.received(data) {
		var m envelope
		_ = json.Unmarshal(data, &m)
		_ = c.WriteClose(closeDuplicateOperation, fmt.Sprintf("Subscriber for %s already exists", m.ID))
		return typ, nil, errDuplicateOperation
	}
	return typ, bytes.NewReader(data), nil
}

// Close codes graphql-transport-ws gives to protocol violations, where gqlgen
// closes with 1002 for all of them.
const (
	closeInitTimeout   = 4408 // no connection_init within the init timeout
	closeTooManyInits  = 4429 // a second connection_init
	websocketProtocol  = 1002 // gqlgen's code for every protocol violation
	gqlgenInitTimedOut = "connection initialisation timeout"
)

// protocolClose maps gqlgen's 1002 close to the code graphql-transport-ws
// prescribes for the violation: 4408 for an init timeout; 4401 for an operation
// sent before the connection was acknowledged; 4429 for a second connection_init;
// 4400 for any other unexpected or undecodable message. Other codes pass.
func (c *sessionConn) protocolClose(code int, reason string) (int, string) {
	if code != websocketProtocol || c.Subprotocol() != graphqlTransportWS {
		return code, reason
	}
	c.ops.mu.Lock()
	last := c.ops.last
	c.ops.mu.Unlock()
	c.mu.Lock()
	authed := c.authed
	c.mu.Unlock()
	switch {
	case reason == gqlgenInitTimedOut:
		return closeInitTimeout, "Connection initialisation timeout"
	case !authed && last == "subscribe":
		return closeUnauthorized, "Unauthorized"
	case authed && last == "connection_init":
		return closeTooManyInits, "Too many initialisation requests"
	default:
		return closeBadRequest, "Invalid message received"
	}
}
