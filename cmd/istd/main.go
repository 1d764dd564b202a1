// Command istd is ist's HTTP server: the engine, its command log and the
// API of API.md.
//
//	go run ./cmd/istd [--data-dir DIR] [--listen ADDR] [--admin-token TOKEN]
//	go run ./cmd/istd backup --to DIR [--data-dir DIR]
//
// Every flag has an environment variable: IST_DATA_DIR (default ./data),
// IST_LISTEN (default 127.0.0.1:8080), IST_ADMIN_TOKEN (default: the
// stored one, or one generated on first start and printed once to standard
// output; only its SHA-256 is stored). IST_DISABLE_SIGNUP=1 (or
// --disable-signup) turns off open sign-up; IST_LOG_LEVEL (--log-level,
// default info) sets the level of the JSON log on standard error, one line
// per request (tokens are never logged).
//
// `istd backup` opens the data directory itself, so it works only while
// istd is not running. For an online backup of a running istd, call
// POST /v1/admin/backup {"to": DIR} with the admin token, or
// server.Server.Backup from Go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "istd:", err)
		os.Exit(1)
	}
}

// env returns the environment variable k, or def.
func env(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}

// run runs istd with the command-line arguments args, printing the
// generated admin token, if any, to stdout.
func run(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "backup" {
		return backup(args[1:], stdout)
	}
	fs := flag.NewFlagSet("istd", flag.ContinueOnError)
	dataDir := fs.String("data-dir", env("IST_DATA_DIR", "./data"), "data directory (IST_DATA_DIR)")
	listen := fs.String("listen", env("IST_LISTEN", "127.0.0.1:8080"), "listen address (IST_LISTEN)")
	admin := fs.String("admin-token", env("IST_ADMIN_TOKEN", ""), "admin token (IST_ADMIN_TOKEN); default: stored or generated")
	level := fs.String("log-level", env("IST_LOG_LEVEL", "info"), "log level: debug, info, warn, error (IST_LOG_LEVEL)")
	noSignup := fs.Bool("disable-signup", env("IST_DISABLE_SIGNUP", "") == "1", "disable open sign-up (IST_DISABLE_SIGNUP=1)")
	demoData := fs.Bool("demo", env("IST_DEMO", "") == "1", "on a fresh data dir, create demo markets and funded demo accounts (IST_DEMO=1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Signals are caught from the start: a SIGTERM during recovery still
	// shuts down cleanly once the server is up.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	lvl, err := zerolog.ParseLevel(*level)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Logger().Level(lvl)
	s, err := server.Open(&server.Options{DataDir: *dataDir, AdminToken: *admin, DisableSignup: *noSignup, Logger: &log})
	if err != nil {
		return err
	}
	if tok := s.GeneratedAdminToken(); tok != "" {
		fmt.Fprintf(stdout, "admin token (printed once, stored hashed): %s\n", tok)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		s.Close()
		return fmt.Errorf("listen: %w", err)
	}
	log.Info().Str("listen", ln.Addr().String()).Str("data_dir", *dataDir).Msg("istd serving")
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	if *demoData {
		tok := *admin
		if tok == "" {
			tok = s.GeneratedAdminToken()
		}
		if tok == "" {
			log.Warn().Msg("--demo needs the admin token (--admin-token) on a data dir that already has one")
		} else if err := demo("http://"+ln.Addr().String(), tok, stdout); err != nil {
			log.Error().Err(err).Msg("demo data")
		}
	}
	var serveErr error
	select {
	case got := <-sig:
		log.Info().Str("signal", got.String()).Msg("shutting down")
	case serveErr = <-served:
		log.Error().Err(serveErr).Msg("server stopped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = s.Shutdown(ctx)
	log.Info().Err(err).Msg("stopped")
	return errors.Join(serveErr, err)
}

// backup runs `istd backup --to DIR`.
func backup(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("istd backup", flag.ContinueOnError)
	dataDir := fs.String("data-dir", env("IST_DATA_DIR", "./data"), "data directory (IST_DATA_DIR)")
	to := fs.String("to", "", "backup directory (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("backup: --to DIR is required")
	}
	if _, err := os.Stat(*dataDir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Logger().Level(zerolog.WarnLevel)
	s, err := server.Open(&server.Options{DataDir: *dataDir, Logger: &log})
	if err != nil {
		return fmt.Errorf("backup: %w (is istd running? use POST /v1/admin/backup)", err)
	}
	berr := s.Backup(*to)
	cerr := s.Close()
	if berr != nil {
		return berr
	}
	fmt.Fprintf(stdout, "backup written to %s\n", *to)
	return cerr
}
