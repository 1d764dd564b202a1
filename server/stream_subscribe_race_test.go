package server

import (
	"fmt"
	"testing"
	"time"
)

// An order placed once the client has read the answer to its subscribe
// to orders has its orders message, even if the hub has not gone on
// since it queued that answer: the engine's output must already keep the
// orders of results for the hub (hub.private) when the answer leaves.
func TestStreamSubscribeOrdersBeforeAnswer(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	c := burstDial(t, ts)
	c.send(`{"op":"auth","token":"` + alice + `"}`)
	c.expect("authenticated")

	release := make(chan struct{})
	held := make(chan struct{}, 1)
	hook := func() {
		select {
		case held <- struct{}{}:
			<-release
		default:
		}
	}
	streamAnsweredHook.Store(&hook)
	t.Cleanup(func() { streamAnsweredHook.Store(nil) })

	c.send(`{"op":"subscribe","channels":["orders"]}`)
	c.expect("subscribed")
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the hook never ran")
	}
	// The hub is held right after the answer; the order goes through
	// the engine and the read model meanwhile.
	oid := id(ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.01"}`))
	streamAnsweredHook.Store(nil)
	close(release)
	m := c.next("the order's orders message")
	if m.Channel != "orders" {
		t.Fatalf("after the order: %+v, want its orders message", m)
	}
	if got, status := burstOrder(t, m); fmt.Sprint(got) != oid || status != "open" {
		t.Fatalf("orders message for %d %s, want %s open", got, status, oid)
	}
}
