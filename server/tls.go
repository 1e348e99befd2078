package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// certCheckInterval is how often a handshake may look at the certificate files for a change:
// a renewed certificate (certbot, cert-manager) is served within this long, without a restart.
const certCheckInterval = 5 * time.Second

// loadKeyPair reads a PEM certificate chain and its key, and checks that the leaf has not
// expired.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls-cert %s, tls-key %s: %w", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("tls-cert %s: %w", certFile, err)
	}
	c.Leaf = leaf
	return &c, nil
}

// certReloader serves the key pair in two files and reads them again when either changes
// (size or modification time), at most every certCheckInterval. A pair that fails to load is
// logged and the previous one kept: a renewal caught half-written must not take HTTPS down.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // sizes and modification times of both files when cert was read
	checked time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	stamp, err := r.fileStamp()
	if err != nil {
		return nil, err
	}
	if r.cert, err = loadKeyPair(certFile, keyFile); err != nil {
		return nil, err
	}
	r.stamp, r.checked = stamp, time.Now()
	return r, nil
}

func (r *certReloader) fileStamp() (string, error) {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		s += strconv.FormatInt(fi.Size(), 10) + "@" + strconv.FormatInt(fi.ModTime().UnixNano(), 10) + ";"
	}
	return s, nil
}

// getCertificate is tls.Config.GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= certCheckInterval {
		r.checked = now
		if stamp, err := r.fileStamp(); err != nil {
			r.log.Error("TLS certificate files unreadable; serving the previous certificate", "error", err)
		} else if stamp != r.stamp {
			if c, err := loadKeyPair(r.certFile, r.keyFile); err != nil {
				r.log.Error("TLS certificate changed but does not load; serving the previous certificate", "error", err)
			} else {
				r.cert, r.stamp = c, stamp
				r.log.Info("TLS certificate reloaded", "subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter)
			}
		}
	}
	return r.cert, nil
}

// tlsConfig is the HTTPS configuration: TLS 1.2 at least, the certificate from r.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}
}

// hsts sets Strict-Transport-Security on every response when the public base URL is https:
// the browser then never tries plain HTTP for this host again (whoever terminates TLS).
func hsts(baseURL string, maxAge time.Duration) echo.MiddlewareFunc {
	u, _ := url.Parse(baseURL) // checked in Validate
	if u.Scheme != "https" || maxAge <= 0 {
		return nil
	}
	value := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set("Strict-Transport-Security", value)
			return next(c)
		}
	}
}

// warnPlainHTTP logs a warning when clients are told to reach Portico over plain HTTP on a
// host other than this machine: tokens and health data would cross the network in clear.
func warnPlainHTTP(baseURL string, log *slog.Logger) {
	u, _ := url.Parse(baseURL) // checked in Validate
	if u.Scheme != "http" || isLoopbackHost(u.Hostname()) {
		return
	}
	log.Warn("the public base URL is plain http on a host other than this machine: access tokens and health data would cross the network unencrypted; use https (--tls-cert and --tls-key, or a TLS-terminating reverse proxy, docs/operations.md)", "base_url", baseURL)
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
