package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store"
)

const adminUsage = `usage: portico admin COMMAND [flags]

  app create --name N --type public|confidential|backend|resource-server
             [--redirect-uri URI]... [--jwks-url URL | --jwks-file FILE] [--scope "..."]
  app list
  app disable --client-id ID
  app rotate-secret --client-id ID
  user create --username U --password P --fhir-user Patient/123
  user list
  user disable --username U
  keys rotate

Every command takes --data-dir and --store as serve does, and works while a server runs.
Output is JSON on stdout. A client secret is shown once, when it is made.`

// runAdmin implements `portico admin`: apps, users and signing keys, kept in the store.
func runAdmin(args []string) int {
	return admin(args, os.Stdout, os.Stderr)
}

// adminCmd is one admin command: its flags, and what it does with the opened store.
type adminCmd struct {
	flags func(fs *flag.FlagSet)
	run   func(ctx context.Context, st store.Store, out io.Writer) error
}

func admin(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprintln(stderr, adminUsage)
		if len(args) == 0 || args[0] != "help" && args[0] != "-h" {
			return 2
		}
		return 0
	}
	name := args[0] + " " + args[1]
	cmds := adminCommands()
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "portico admin: unknown command %q\n\n%s\n", name, adminUsage)
		return 2
	}
	cfg := server.Defaults()
	fs := flag.NewFlagSet("admin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the embedded store")
	fs.StringVar(&cfg.Store, "store", cfg.Store, `store backend: "" or "sqlite" (embedded, in --data-dir) or "sqlite:/dir"`)
	cmd.flags(fs)
	if err := parseWithEnv(fs, args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "portico admin:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "portico admin %s: unexpected arguments %q\n", name, fs.Args())
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "portico admin: open store:", err)
		return 1
	}
	err = cmd.run(ctx, st, stdout)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "portico admin %s: %v\n", name, err)
		return 1
	}
	return 0
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// clientView is how a client is printed: never its secret hash.
type clientView struct {
	ClientID     string           `json:"client_id"`
	ClientSecret string           `json:"client_secret,omitempty"`
	Name         string           `json:"name"`
	Type         smart.ClientType `json:"type"`
	RedirectURIs []string         `json:"redirect_uris,omitempty"`
	JWKSURL      string           `json:"jwks_url,omitempty"`
	HasJWKS      bool             `json:"jwks_registered,omitempty"`
	Scope        string           `json:"scope"`
	Disabled     bool             `json:"disabled"`
	Created      time.Time        `json:"created"`
}

func viewClient(c smart.Client, secret string) clientView {
	return clientView{ClientID: c.ID, ClientSecret: secret, Name: c.Name, Type: c.Type, RedirectURIs: c.RedirectURIs,
		JWKSURL: c.JWKSURL, HasJWKS: len(c.JWKS) > 0, Scope: c.Scope, Disabled: c.Disabled, Created: c.Created}
}

type userView struct {
	ID       string    `json:"id"`
	Username string    `json:"username"`
	FHIRUser string    `json:"fhir_user"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
}

func viewUser(u smart.User) userView {
	return userView{ID: u.ID, Username: u.Username, FHIRUser: u.FHIRUser, Disabled: u.Disabled, Created: u.Created}
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func adminCommands() map[string]adminCmd {
	var (
		c        smart.Client
		redirect stringList
		typ      string
		jwksFile string
		clientID string
		username string
		password string
		fhirUser string
	)
	noFlags := func(*flag.FlagSet) {}
	return map[string]adminCmd{
		"app create": {
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&c.Name, "name", "", "the app's name, shown on the consent page")
				fs.Var(&redirect, "redirect-uri", "an allowed redirect URI (repeat for several)")
				fs.StringVar(&typ, "type", "", "public, confidential, backend, or resource-server (an API that may introspect every token, and do nothing else)")
				fs.StringVar(&c.JWKSURL, "jwks-url", "", "URL of the app's public keys (private_key_jwt)")
				fs.StringVar(&jwksFile, "jwks-file", "", "file holding the app's public keys as a JWKS (private_key_jwt)")
				fs.StringVar(&c.Scope, "scope", "", "the most the app may be granted (default: system/*.rs for backend apps, patient and user read scopes otherwise)")
			},
			run: func(ctx context.Context, st store.Store, out io.Writer) error {
				c.Type, c.RedirectURIs = smart.ClientType(typ), redirect
				if jwksFile != "" {
					data, err := os.ReadFile(jwksFile)
					if err != nil {
						return err
					}
					c.JWKS = data
				}
				created, secret, err := smart.NewRegistry(st).CreateClient(ctx, c)
				if err != nil {
					return err
				}
				return printJSON(out, viewClient(created, secret))
			},
		},
		"app list": {flags: noFlags, run: func(ctx context.Context, st store.Store, out io.Writer) error {
			cs, err := smart.NewRegistry(st).Clients(ctx)
			if err != nil {
				return err
			}
			views := make([]clientView, len(cs))
			for i, c := range cs {
				views[i] = viewClient(c, "")
			}
			return printJSON(out, views)
		}},
		"app disable": {
			flags: func(fs *flag.FlagSet) { fs.StringVar(&clientID, "client-id", "", "the app's client_id") },
			run: func(ctx context.Context, st store.Store, out io.Writer) error {
				reg := smart.NewRegistry(st)
				if err := reg.DisableClient(ctx, clientID); err != nil {
					return err
				}
				c, err := reg.Client(ctx, clientID)
				if err != nil {
					return err
				}
				return printJSON(out, viewClient(c, ""))
			},
		},
		"app rotate-secret": {
			flags: func(fs *flag.FlagSet) { fs.StringVar(&clientID, "client-id", "", "the app's client_id") },
			run: func(ctx context.Context, st store.Store, out io.Writer) error {
				reg := smart.NewRegistry(st)
				secret, err := reg.RotateSecret(ctx, clientID)
				if err != nil {
					return err
				}
				c, err := reg.Client(ctx, clientID)
				if err != nil {
					return err
				}
				return printJSON(out, viewClient(c, secret))
			},
		},
		"user create": {
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&username, "username", "", "sign-in name (case-insensitive, unique)")
				fs.StringVar(&password, "password", "", "password, at least 8 characters (PORTICO_PASSWORD keeps it out of the process list)")
				fs.StringVar(&fhirUser, "fhir-user", "", "the user's FHIR resource: Patient/123, Practitioner/7, RelatedPerson/9")
			},
			run: func(ctx context.Context, st store.Store, out io.Writer) error {
				u, err := smart.NewRegistry(st).CreateUser(ctx, username, password, fhirUser)
				if err != nil {
					return err
				}
				return printJSON(out, viewUser(u))
			},
		},
		"user list": {flags: noFlags, run: func(ctx context.Context, st store.Store, out io.Writer) error {
			us, err := smart.NewRegistry(st).Users(ctx)
			if err != nil {
				return err
			}
			views := make([]userView, len(us))
			for i, u := range us {
				views[i] = viewUser(u)
			}
			return printJSON(out, views)
		}},
		"user disable": {
			flags: func(fs *flag.FlagSet) { fs.StringVar(&username, "username", "", "the user's sign-in name") },
			run: func(ctx context.Context, st store.Store, out io.Writer) error {
				reg := smart.NewRegistry(st)
				if err := reg.DisableUser(ctx, username); err != nil {
					return err
				}
				u, err := reg.UserByUsername(ctx, username)
				if err != nil {
					return err
				}
				return printJSON(out, viewUser(u))
			},
		},
		"keys rotate": {flags: noFlags, run: func(ctx context.Context, st store.Store, out io.Writer) error {
			kid, err := smart.RotateKeys(ctx, st)
			if err != nil {
				return err
			}
			return printJSON(out, map[string]string{"kid": kid})
		}},
	}
}
