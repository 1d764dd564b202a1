package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSecReviewStreamDuplicateChannels: a subscribe that names a book
// channel many times is answered with one snapshot, not one per name.
// Each message is charged once to the rate limiter, and subscribing
// again to a book sends a fresh snapshot (a resync), so before the fix
// one message of 4 KiB bought some 270 snapshots (each up to depth
// levels a side): the limiter bounded messages, not the work and bytes
// they cost.
func TestSecReviewStreamDuplicateChannels(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","type":"limit","price":"70000","quantity":"0.5"}`)
	c := ts.dial()
	names := make([]string, 0, 300)
	msg := ""
	for {
		names = append(names, `"book:BTC-USDT"`)
		next := `{"op":"subscribe","channels":[` + strings.Join(names, ",") + `]}`
		if len(next) > streamReadLimit {
			break
		}
		msg = next
	}
	c.send(msg)
	c.send(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`) // its answer ends the first's
	snapshots, subscribed := 0, 0
	for subscribed < 2 {
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m wsMsg
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		switch {
		case m.Type == "subscribed":
			subscribed++
			if subscribed == 1 && !strings.Contains(string(raw), `"channels":["book:BTC-USDT"]`) {
				t.Errorf("answer %.200s", raw)
			}
		case m.Type == "snapshot":
			snapshots++
		case m.Type == "error":
			t.Fatalf("error %s", raw)
		}
	}
	if snapshots != 1 {
		t.Fatalf("one subscribe naming book:BTC-USDT %d times: %d snapshots, want 1", len(names)-1, snapshots)
	}
}

// A refused channel named many times in one message is answered one
// error, not one per time (a 4 KiB message naming one 300 times sent
// 300 errors).
func TestStreamDuplicateRefusedChannel(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	c := ts.dial()
	c.send(`{"op":"subscribe","channels":["book:NOPE","book:NOPE","book:NOPE","book:NOPE","book:NOPE"]}`)
	c.send(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`) // its answer comes after the first's errors
	errs := 0
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m wsMsg
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "error" {
			errs++
		}
		if m.Type == "subscribed" {
			break
		}
	}
	if errs != 1 {
		t.Fatalf("%d errors for one refused channel named five times, want 1", errs)
	}
}
