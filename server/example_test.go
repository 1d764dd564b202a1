package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/instant-social-trading/ist/server"
)

// istd in a program: open a server on a data directory, serve it on a
// loopback port, and trade through its HTTP API.
func Example() {
	dir, err := os.MkdirTemp("", "istd-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	quiet := zerolog.Nop()
	s, err := server.Open(&server.Options{DataDir: dir, AdminToken: "admin-secret", Logger: &quiet})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go s.Serve(ln)
	base := "http://" + ln.Addr().String()

	// call sends a request with a bearer token and decodes the answer.
	call := func(method, path, token, body string) (int, map[string]any) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			panic(fmt.Sprintf("%s: %v", data, err))
		}
		return resp.StatusCode, v
	}

	code, _ := call("POST", "/v1/admin/markets", "admin-secret",
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.001"}`)
	fmt.Println("create market:", code)
	code, alice := call("POST", "/v1/accounts", "", `{"name":"alice"}`)
	fmt.Println("sign up:", code, alice["name"])
	token := alice["token"].(string)
	code, _ = call("POST", "/v1/admin/deposits", "admin-secret",
		fmt.Sprintf(`{"account_id":%v,"asset":"USDT","amount":"1000","ref":"d-1"}`, alice["id"]))
	fmt.Println("deposit:", code)
	code, placed := call("POST", "/v1/orders", token,
		`{"market":"BTC-USDT","side":"buy","type":"limit","price":"100.50","quantity":"2","client_order_id":"c-1"}`)
	order := placed["order"].(map[string]any)
	fmt.Println("order:", code, order["status"], order["price"], order["remaining"])
	_, account := call("GET", "/v1/account", token, "")
	for _, b := range account["balances"].([]any) {
		b := b.(map[string]any)
		fmt.Println("balance:", b["asset"], "available", b["available"], "locked", b["locked"])
	}

	// Stop accepting, drain, snapshot and close: a restart on dir finds
	// all of the above.
	if err := s.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	// Output:
	// create market: 201
	// sign up: 201 alice
	// deposit: 201
	// order: 201 open 100.5 2
	// balance: USDT available 799 locked 201
}
