package smart

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// JWK is a public JSON Web Key (RFC 7517): RSA (n, e) or EC P-256/P-384/P-521 (crv, x, y).
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	// Private members, when present, make ParseJWKS refuse the set: nobody should publish them.
	D string `json:"d,omitempty"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

var b64url = base64.RawURLEncoding

// ParseJWKS reads a key set and checks that every key is a usable public key.
func ParseJWKS(data []byte) (JWKS, error) {
	var set JWKS
	if err := json.Unmarshal(data, &set); err != nil {
		return JWKS{}, fmt.Errorf("jwks: %w", err)
	}
	if len(set.Keys) == 0 {
		return JWKS{}, errors.New("jwks: no keys")
	}
	for i, k := range set.Keys {
		if k.D != "" {
			return JWKS{}, fmt.Errorf("jwks: key %d holds a private key", i)
		}
		if _, err := k.PublicKey(); err != nil {
			return JWKS{}, fmt.Errorf("jwks: key %d: %w", i, err)
		}
	}
	return set, nil
}

// PublicKey decodes the key: *rsa.PublicKey or *ecdsa.PublicKey.
func (k JWK) PublicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err1 := b64url.DecodeString(k.N)
		e, err2 := b64url.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA n or e")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 {
			return nil, errors.New("RSA key shorter than 2048 bits")
		}
		return pub, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err1 := b64url.DecodeString(k.X)
		y, err2 := b64url.DecodeString(k.Y)
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad EC x or y")
		}
		// Building the uncompressed point and parsing it checks that it is on the curve.
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, errors.New("bad EC coordinate length")
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("EC point: %w", err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("unsupported kty %q", k.Kty)
}

// RSAPublicJWK describes an RSA public key, with its RFC 7638 thumbprint as kid.
func RSAPublicJWK(pub *rsa.PublicKey, alg string) JWK {
	k := JWK{Kty: "RSA", Alg: alg, Use: "sig",
		N: b64url.EncodeToString(pub.N.Bytes()),
		E: b64url.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
	k.Kid = Thumbprint(k)
	return k
}

// ECPublicJWK describes an EC public key, with its RFC 7638 thumbprint as kid.
func ECPublicJWK(pub *ecdsa.PublicKey, alg string) (JWK, error) {
	raw, err := pub.Bytes() // uncompressed point: 0x04 || x || y
	if err != nil {
		return JWK{}, err
	}
	size := (len(raw) - 1) / 2
	k := JWK{Kty: "EC", Alg: alg, Use: "sig", Crv: pub.Curve.Params().Name,
		X: b64url.EncodeToString(raw[1 : 1+size]), Y: b64url.EncodeToString(raw[1+size:])}
	k.Kid = Thumbprint(k)
	return k, nil
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of a public key, base64url.
func Thumbprint(k JWK) string {
	var canon string
	switch k.Kty {
	case "RSA":
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, k.E, k.N)
	case "EC":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Crv, k.X, k.Y)
	default:
		return ""
	}
	sum := sha256.Sum256([]byte(canon))
	return b64url.EncodeToString(sum[:])
}
