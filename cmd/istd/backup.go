package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
)

// backupTimeout bounds the wait for a running istd's online backup.
const backupTimeout = 10 * time.Minute

// backup runs `istd backup --to DIR`: an online, consistent backup of the
// data directory, from which istd can start. If no istd holds the
// directory, backup opens it itself (recovering it as istd would; see
// backupOptions for what it leaves unchanged); if one does
// (server.ErrDataDirInUse), backup asks that istd to write the backup,
// with POST /v1/admin/backup at its --listen address and admin token.
// DIR must not exist; it is made absolute here, so that either way it
// names the same directory of this machine (the running istd writes it,
// with its own permissions). A data directory without istd's data
// (checkData) is refused, and nothing is written.
func backup(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("istd backup", flag.ContinueOnError)
	usage(fs, `usage: istd backup --to DIR [flags]
writes a consistent backup of the data directory that istd can start from

flags:
`)
	dataDir := fs.String("data-dir", env("IST_DATA_DIR", "./data"), "data directory (IST_DATA_DIR)")
	to := fs.String("to", "", "backup directory (must not exist)")
	listen := fs.String("listen", env("IST_LISTEN", "127.0.0.1:8080"),
		"address of the istd running on --data-dir, if any (IST_LISTEN)")
	admin := fs.String("admin-token", env("IST_ADMIN_TOKEN", ""), "admin token of the running istd (IST_ADMIN_TOKEN)")
	cert := fs.String("tls-cert", env("IST_TLS_CERT", ""),
		"certificate file of the running istd, if it serves HTTPS (IST_TLS_CERT)")
	// istd's retention flags are accepted, so that the backup can be run
	// with istd's own settings, and checked; an offline backup keeps all
	// the history the directory holds whatever they say (backupOptions).
	tun := &tuning{}
	tun.int(fs, &tun.historyOrders, "history-orders", "IST_HISTORY_ORDERS", server.DefaultHistoryOrders,
		"istd's setting, accepted; the backup keeps every done order the data directory holds")
	tun.int(fs, &tun.historyFills, "history-fills", "IST_HISTORY_FILLS", server.DefaultHistoryFills,
		"istd's setting, accepted; the backup keeps every fill the data directory holds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if tun.historyOrders < 0 {
		tun.errs = append(tun.errs, errors.New("--history-orders must not be negative"))
	}
	if tun.historyFills < 0 {
		tun.errs = append(tun.errs, errors.New("--history-fills must not be negative"))
	}
	if err := errors.Join(tun.errs...); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if *to == "" {
		return errors.New("backup: --to DIR is required")
	}
	dir, err := filepath.Abs(*to)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := checkData("backup", "nothing to back up", *dataDir, "server", "log"); err != nil {
		return err
	}
	log := zerolog.New(server.MaskSecrets(os.Stderr)).With().Timestamp().Logger().Level(zerolog.WarnLevel)
	s, err := server.Open(backupOptions(*dataDir, &log))
	if errors.Is(err, server.ErrDataDirInUse) {
		return backupOnline(stdout, *dataDir, dir, *listen, *admin, *cert)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	berr := s.Backup(dir)
	cerr := s.Close()
	if berr != nil {
		return berr
	}
	fmt.Fprintf(stdout, "backup written to %s\n", dir)
	return cerr
}

// errNoData is the error of an offline backup of a directory that holds
// no istd data.
var errNoData = errors.New("holds no istd data")

// checkData returns an error (prefixed op, saying what) unless dataDir
// holds a Pebble database in each of subs, as every istd start leaves in
// DATA/server (the metadata store, with the admin token's hash) and
// DATA/log (the command log); pebble.Peek only reads. Opening a directory
// without them would create them, with an admin token never printed, and
// back up (or verify) nothing.
func checkData(op, what, dataDir string, subs ...string) error {
	for _, sub := range subs {
		dir := filepath.Join(dataDir, sub)
		desc, err := pebble.Peek(dir, vfs.Default)
		if errors.Is(err, os.ErrNotExist) || err == nil && !desc.Exists {
			return fmt.Errorf("%s: %s %w (no database in %s): %s "+
				"(is --data-dir, IST_DATA_DIR, the directory istd runs on?)", op, dataDir, errNoData, dir, what)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", op, dir, err)
		}
	}
	return nil
}

// backupOptions are the server options of an offline backup of dataDir.
// They leave the order history of the directory as it is: the backup
// opens it with every done order and fill kept (server.Options
// HistoryOrders and HistoryFills negative), since Backup saves the
// history it loaded into the source too, and any retention would trim
// it there for good; istd's own retention applies when istd next starts,
// on the directory or on the backup. Nor does it save the history
// periodically (Backup and Close save it). No admin token is given, so
// the stored hash is kept. Nor does it arm the dead man's switches
// stored (server.Options.KeepSwitches): a deadline that passed while
// istd was down would cancel orders in the directory being copied; the
// next start of istd fires it.
func backupOptions(dataDir string, log *zerolog.Logger) *server.Options {
	return &server.Options{DataDir: dataDir, Logger: log, HistoryOrders: -1, HistoryFills: -1, HistoryInterval: -1,
		KeepSwitches: true}
}

// backupOnline asks the istd running on dataDir, at listen, to write the
// backup to dir (absolute), with POST /v1/admin/backup.
func backupOnline(stdout io.Writer, dataDir, dir, listen, token, certFile string) error {
	if token == "" {
		return fmt.Errorf("backup: %s is in use by a running istd: give its admin token "+
			"(--admin-token or IST_ADMIN_TOKEN) to have it write the backup", dataDir)
	}
	base, err := localURL(listen, certFile != "")
	if err != nil {
		return fmt.Errorf("backup: --listen: %w", err)
	}
	c := &http.Client{Timeout: backupTimeout}
	if certFile != "" {
		conf, err := pinnedTLS(certFile)
		if err != nil {
			return fmt.Errorf("backup: --tls-cert: %w", err)
		}
		c.Transport = &http.Transport{TLSClientConfig: conf}
	}
	body, _ := json.Marshal(map[string]string{"to": dir})
	req, err := http.NewRequest("POST", base+"/v1/admin/backup", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		hint := ""
		if certFile == "" {
			// An HTTPS istd closes a plain HTTP connection: EOF.
			hint = "; if it serves HTTPS, give its certificate (--tls-cert, IST_TLS_CERT)"
		}
		return fmt.Errorf("backup: %s is in use, but the istd at %s (--listen, IST_LISTEN) did not answer: %w%s",
			dataDir, base, err, hint)
	}
	defer resp.Body.Close()
	var out struct {
		To       string `json:"to"`
		Sequence uint64 `json:"sequence"`
		Error    struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return fmt.Errorf("backup: istd at %s answered %s: %w", base, resp.Status, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("backup: istd at %s: %s: %s: %s", base, resp.Status, out.Error.Code, out.Error.Message)
	}
	fmt.Fprintf(stdout, "online backup written to %s by the istd at %s (sequence %d)\n", out.To, base, out.Sequence)
	return nil
}

// localURL returns the base URL that reaches an istd listening on listen
// from this machine: an unspecified host (":8080", "0.0.0.0:8080",
// "[::]:8080") is the loopback address.
func localURL(listen string, https bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// pinnedTLS returns a client configuration that accepts exactly the
// first certificate of the PEM file certFile, the one the running istd
// serves (read at its start), whatever the name it is reached by.
func pinnedTLS(certFile string) (*tls.Config, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", certFile)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	want := block.Bytes
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is not verified against roots and names: the peer must
		// present the very certificate of certFile.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return fmt.Errorf("istd presented a certificate other than %s (renewed since istd started?)", certFile)
			}
			return nil
		},
	}, nil
}
