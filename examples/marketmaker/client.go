package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// client calls istd's HTTP API with one token, retrying what is safe to
// retry:
//
//   - a transport error (no answer: the connection failed or the request
//     timed out) is retried once, with the same body. Every write of the
//     maker is safe to resend: a placement carries its client_order_id
//     (a resend returns the original order), an amend sets absolute
//     values, and a cancel of an order already cancelled answers
//     not_found, which the maker takes as done;
//   - 429 rate_limited, 503 overloaded and 503 unavailable are retried
//     after a pause, Retry-After if the server gives one, else an
//     exponential backoff with jitter, up to backoffTries times.
//
// The context only interrupts the pauses. A request once sent runs to its
// answer or to the client's timeout: the maker never leaves a write it
// sent in doubt, which matters on exit, when it cancels all its orders
// and must not race a placement still in flight.
type client struct {
	base  string // e.g. http://127.0.0.1:8080
	token string // sent as Authorization: Bearer
	hc    *http.Client

	// Backoff of 429 and 503 answers; zero values take the defaults.
	backoffBase time.Duration // first pause; default 100 ms
	backoffMax  time.Duration // longest pause; default 2 s
	tries       int           // attempts in all; default 8
}

// requestTimeout bounds one request (and so a write in doubt).
const requestTimeout = 10 * time.Second

func newClient(base, token string) *client {
	return &client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: requestTimeout}}
}

// with returns a copy of c that sends token.
func (c *client) with(token string) *client {
	cc := *c
	cc.token = token
	return &cc
}

// apiError is an error answer: {"error":{"code","message"}} and its status.
type apiError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// errCode returns the API error code of err ("would_cross", ...), or ""
// if err is not an error answer.
func errCode(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// retryable reports whether an answer asks to come back later.
func retryable(status int, code string) bool {
	return status == http.StatusTooManyRequests ||
		(status == http.StatusServiceUnavailable && (code == "overloaded" || code == "unavailable"))
}

// call sends method path with the JSON body (none if empty) and decodes
// the answer into into (if not nil). An error answer is an *apiError.
func (c *client) call(ctx context.Context, method, path, body string, into any) error {
	transportRetried := false
	for attempt := 1; ; attempt++ {
		status, retryAfter, data, err := c.once(ctx, method, path, body)
		if err != nil {
			if transportRetried {
				return err
			}
			transportRetried = true
			attempt-- // not an answer: does not count as a try
			continue
		}
		if status < 300 {
			if into == nil {
				return nil
			}
			if err := json.Unmarshal(data, into); err != nil {
				return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
			}
			return nil
		}
		ae := &apiError{Method: method, Path: path, Status: status}
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			ae.Code, ae.Message = eb.Error.Code, eb.Error.Message
		} else {
			ae.Message = string(bytes.TrimSpace(data))
		}
		if !retryable(status, ae.Code) || attempt >= cmp.Or(c.tries, 8) {
			return ae
		}
		if err := sleep(ctx, c.pause(attempt, retryAfter)); err != nil {
			return err
		}
	}
}

// once sends one request. err is a transport error: no answer.
func (c *client) once(ctx context.Context, method, path, body string) (status int, retryAfter time.Duration, data []byte, err error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	// The request outlives ctx (see client): only c.hc's timeout ends it.
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), method, c.base+path, rd)
	if err != nil {
		return 0, 0, nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	if data, err = io.ReadAll(resp.Body); err != nil {
		return 0, 0, nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, data, nil
}

// pause returns how long to wait before try attempt+1: Retry-After if
// given, else base × 2^(attempt−1) up to max, between half and all of it.
func (c *client) pause(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	base, most := cmp.Or(c.backoffBase, 100*time.Millisecond), cmp.Or(c.backoffMax, 2*time.Second)
	d := most
	if attempt-1 < 30 {
		d = min(base<<(attempt-1), most)
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
