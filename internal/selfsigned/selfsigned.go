// Package selfsigned makes a private certificate authority and a server
// certificate it signs, for `wisp up --tls auto`: TLS on every listener
// without bringing certificates, the CA handed to clients in their context.
package selfsigned

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Files are the PEM files Ensure keeps in its directory.
type Files struct {
	CA, Cert, Key string
}

// Ensure returns a CA and a server certificate in dir valid for hosts (IP
// addresses or DNS names), making them on first use and making a new
// server certificate when one of hosts is not in the current one. The CA
// lives ten years, the server certificate one; keys are ECDSA P-256.
func Ensure(dir string, hosts []string) (Files, error) {
	f := Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem")}
	caKeyFile := filepath.Join(dir, "ca-key.pem")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, fmt.Errorf("tls dir: %w", err)
	}
	ca, caKey, err := load(f.CA, caKeyFile)
	if err != nil {
		if ca, caKey, err = newCert(nil, nil, nil, true); err != nil {
			return f, err
		}
		if err := write(f.CA, caKeyFile, ca, caKey); err != nil {
			return f, err
		}
		os.Remove(f.Cert)
	}
	if cert, _, err := load(f.Cert, f.Key); err == nil && covers(cert, hosts) && cert.CheckSignatureFrom(ca) == nil && time.Now().Before(cert.NotAfter) {
		return f, nil
	}
	cert, key, err := newCert(ca, caKey, hosts, false)
	if err != nil {
		return f, err
	}
	return f, write(f.Cert, f.Key, cert, key)
}

func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(c.DNSNames, h) {
			return false
		}
	}
	return true
}

func newCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, hosts []string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"wisp"}, CommonName: "wisp server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.Subject.CommonName = "wisp local CA"
		tmpl.NotAfter = time.Now().AddDate(10, 0, 0)
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = nil
		parent, parentKey = tmpl, key
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("make certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func write(certFile, keyFile string, c *x509.Certificate, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644)
}

func load(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("not an ECDSA key")
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	return c, key, err
}
