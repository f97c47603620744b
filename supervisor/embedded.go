package supervisor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/alicebob/miniredis/v2"
)

// embeddedBroker is an in-process Redis-protocol server (miniredis) on
// loopback for a single-host setup without --redis. It keeps the streams in
// the supervisor's memory, so they survive child restarts but not a restart
// of tailcast serve.
type embeddedBroker struct {
	server *miniredis.Miniredis
	url    string // holds the password: never log it
	addr   string
}

func startEmbeddedBroker() (*embeddedBroker, error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("supervisor: generate broker password: %w", err)
	}
	password := hex.EncodeToString(secret)

	server := miniredis.NewMiniRedis()
	server.RequireAuth(password)
	if err := server.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("supervisor: start embedded broker: %w", err)
	}
	u := url.URL{Scheme: "redis", User: url.UserPassword("", password), Host: server.Addr()}
	return &embeddedBroker{server: server, url: u.String(), addr: server.Addr()}, nil
}

func (b *embeddedBroker) close() { b.server.Close() }
