package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store"
)

// runAdmin implements `portico admin`: apps, users and signing keys, kept in the store, and the
// backup and restore of the embedded store.
func runAdmin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return admin(args, stdin, stdout, stderr)
}

// adminCmd is one admin command: its flags, and what it does with the opened store (run) or,
// for backup and restore, with the store's files (files).
type adminCmd struct {
	name     string // "app create", "backup"
	synopsis string // the flags it needs, for the list of commands
	summary  string
	flags    func(fs *flag.FlagSet)
	run      func(ctx context.Context, st store.Store, aio adminIO) error
	files    func(ctx context.Context, cfg server.Config, aio adminIO) error
	password bool // reads a password (readPassword)
}

// adminIO is where a command reads and writes.
type adminIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// adminUsage lists the admin commands, or those of one group ("app", "user", "keys").
func adminUsage(group string) string {
	var b strings.Builder
	if group == "" {
		b.WriteString("usage: portico admin COMMAND [flags]\n\n")
	} else {
		fmt.Fprintf(&b, "usage: portico admin %s COMMAND [flags]\n\n", group)
	}
	for _, c := range adminCommands() {
		if group != "" && !strings.HasPrefix(c.name, group+" ") {
			continue
		}
		fmt.Fprintf(&b, "  %-18s %s\n", c.name, c.summary)
		if c.synopsis != "" {
			fmt.Fprintf(&b, "  %-18s   %s\n", "", c.synopsis)
		}
	}
	b.WriteString(`
Every command takes --data-dir and --store as serve does (PORTICO_DATA_DIR, PORTICO_STORE) and
works while a server runs. Output is JSON on stdout. A client secret is shown once, when it is
made. A password is read from PORTICO_PASSWORD, else from stdin (a prompt on a terminal), never
from the command line. ` + "`portico admin COMMAND --help`" + ` shows a command's flags.`)
	return b.String()
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func admin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := adminCommands()
	if len(args) == 0 {
		fmt.Fprintln(stderr, adminUsage(""))
		return 2
	}
	if isHelp(args[0]) {
		fmt.Fprintln(stdout, adminUsage(""))
		return 0
	}
	// A command is one word (backup) or a group and a word (app create).
	i := slices.IndexFunc(cmds, func(c adminCmd) bool { return c.name == args[0] })
	rest := args[1:]
	if i < 0 {
		group := args[0]
		if !slices.ContainsFunc(cmds, func(c adminCmd) bool { return strings.HasPrefix(c.name, group+" ") }) {
			fmt.Fprintf(stderr, "portico admin: unknown command %q\n\n%s\n", group, adminUsage(""))
			return 2
		}
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") && !isHelp(rest[0]) {
			fmt.Fprintf(stderr, "portico admin %s: which command?\n\n%s\n", group, adminUsage(group))
			return 2
		}
		if isHelp(rest[0]) {
			fmt.Fprintln(stdout, adminUsage(group))
			return 0
		}
		name := group + " " + rest[0]
		if i = slices.IndexFunc(cmds, func(c adminCmd) bool { return c.name == name }); i < 0 {
			fmt.Fprintf(stderr, "portico admin: unknown command %q\n\n%s\n", name, adminUsage(group))
			return 2
		}
		rest = rest[1:]
	}
	cmd := cmds[i]
	if cmd.password && slices.ContainsFunc(rest, func(a string) bool {
		return strings.HasPrefix(strings.TrimLeft(a, "-"), "password") && strings.HasPrefix(a, "-")
	}) {
		fmt.Fprintf(stderr, "portico admin %s: a password is not taken from the command line, where other users of the machine can read it: set %s, or give it on stdin\n", cmd.name, passwordEnv)
		return 2
	}

	cfg := server.Defaults()
	fs := flag.NewFlagSet("admin "+cmd.name, flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the embedded store")
	fs.StringVar(&cfg.Store, "store", cfg.Store, `store backend: "" or "sqlite" (embedded, in --data-dir), "sqlite:/dir", or a mongodb:// or mongodb+srv:// connection string`)
	cmd.flags(fs)
	usage := fmt.Sprintf("usage: portico admin %s %s\n\n%s.", cmd.name, cmd.synopsis, upperFirst(cmd.summary))
	if cmd.password {
		usage += fmt.Sprintf("\nThe password comes from %s, else from stdin (typed twice at a prompt on a terminal).", passwordEnv)
	}
	if code, done := parseCommand(fs, rest, usage, stdout, stderr); done {
		return code
	}
	aio := adminIO{stdin: stdin, stdout: stdout, stderr: stderr}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if cmd.files != nil {
		err := cmd.files(ctx, cfg, aio)
		var usage usageError
		switch {
		case errors.As(err, &usage):
			fmt.Fprintf(stderr, "portico admin %s: %v\n`portico admin %s --help` lists the flags.\n", cmd.name, err, cmd.name)
			return 2
		case err != nil:
			fmt.Fprintf(stderr, "portico admin %s: %v\n", cmd.name, err)
			return 1
		}
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "portico admin: open store:", err)
		return 1
	}
	err = cmd.run(ctx, st, aio)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "portico admin %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

// usageError is a command line a command cannot run with (exit code 2).
type usageError string

func (e usageError) Error() string { return string(e) }

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// passwordEnv holds the password of `admin user create` and `user reset-password`.
const passwordEnv = "PORTICO_PASSWORD"

// maxPassword bounds what is read as a password.
const maxPassword = 1024

// readPassword returns a password: PORTICO_PASSWORD when it is set, else, on a terminal, one
// typed twice at a prompt without echo, else the first line of stdin. Never an argument: a
// process's arguments are visible to every user of the machine (ps, /proc).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if p, ok := os.LookupEnv(passwordEnv); ok {
		return p, nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(stderr, "Password: ")
		p1, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		fmt.Fprint(stderr, "The same password again: ")
		p2, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("the two passwords differ")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, maxPassword+1)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("no password: set %s, or give it on stdin", passwordEnv)
		}
		return "", fmt.Errorf("read the password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) > maxPassword {
		return "", fmt.Errorf("password: at most %d bytes", maxPassword)
	}
	return line, nil
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

// adminCommands returns the admin commands, in the order the usage lists them, with new flag
// variables.
func adminCommands() []adminCmd {
	var (
		c        smart.Client
		redirect stringList
		typ      string
		jwksFile string
		clientID string
		username string
		fhirUser string
	)
	noFlags := func(*flag.FlagSet) {}
	clientIDFlag := func(fs *flag.FlagSet) { fs.StringVar(&clientID, "client-id", "", "the app's client_id") }
	usernameFlag := func(fs *flag.FlagSet) { fs.StringVar(&username, "username", "", "the user's sign-in name") }
	// printClient prints the app after a change.
	printClient := func(ctx context.Context, reg *smart.Registry, out io.Writer, secret string) error {
		c, err := reg.Client(ctx, clientID)
		if err != nil {
			return err
		}
		return printJSON(out, viewClient(c, secret))
	}
	printUser := func(ctx context.Context, reg *smart.Registry, out io.Writer) error {
		u, err := reg.UserByUsername(ctx, username)
		if err != nil {
			return err
		}
		return printJSON(out, viewUser(u))
	}
	cmds := []adminCmd{
		{
			name:     "app create",
			synopsis: "--name N --type public|confidential|backend|resource-server [--redirect-uri URI]... [--jwks-url URL | --jwks-file FILE] [--scope \"...\"]",
			summary:  "register a SMART app (a confidential app's secret is printed once)",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&c.Name, "name", "", "the app's name, shown on the consent page")
				fs.Var(&redirect, "redirect-uri", "an allowed redirect URI (repeat for several)")
				fs.StringVar(&typ, "type", "", "public, confidential, backend, or resource-server (an API that may introspect every token, and do nothing else)")
				fs.StringVar(&c.JWKSURL, "jwks-url", "", "URL of the app's public keys (private_key_jwt)")
				fs.StringVar(&jwksFile, "jwks-file", "", "file holding the app's public keys as a JWKS (private_key_jwt)")
				fs.StringVar(&c.Scope, "scope", "", "the most the app may be granted (default: system/*.rs for backend apps, patient and user read scopes otherwise)")
			},
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
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
				return printJSON(aio.stdout, viewClient(created, secret))
			},
		},
		{name: "app list", summary: "list the registered apps", flags: noFlags, run: func(ctx context.Context, st store.Store, aio adminIO) error {
			cs, err := smart.NewRegistry(st).Clients(ctx)
			if err != nil {
				return err
			}
			views := make([]clientView, len(cs))
			for i, c := range cs {
				views[i] = viewClient(c, "")
			}
			return printJSON(aio.stdout, views)
		}},
		{
			name: "app disable", synopsis: "--client-id ID", flags: clientIDFlag,
			summary: "suspend an app: its sign-ins, tokens and refresh tokens stop within 5 s",
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
				reg := smart.NewRegistry(st)
				if err := reg.DisableClient(ctx, clientID); err != nil {
					return err
				}
				return printClient(ctx, reg, aio.stdout, "")
			},
		},
		{
			name: "app enable", synopsis: "--client-id ID", flags: clientIDFlag,
			summary: "end an app's suspension: its unexpired tokens work again",
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
				reg := smart.NewRegistry(st)
				if err := reg.EnableClient(ctx, clientID); err != nil {
					return err
				}
				return printClient(ctx, reg, aio.stdout, "")
			},
		},
		{
			name: "app delete", synopsis: "--client-id ID", flags: clientIDFlag,
			summary: "remove an app for good (its secret and keys too): its tokens stop within 5 s",
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
				if err := smart.NewRegistry(st).DeleteClient(ctx, clientID); err != nil {
					return err
				}
				return printJSON(aio.stdout, map[string]any{"client_id": clientID, "deleted": true})
			},
		},
		{
			name: "app rotate-secret", synopsis: "--client-id ID", flags: clientIDFlag,
			summary: "give a confidential app a new secret (printed once); the old one stops at once",
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
				reg := smart.NewRegistry(st)
				secret, err := reg.RotateSecret(ctx, clientID)
				if err != nil {
					return err
				}
				return printClient(ctx, reg, aio.stdout, secret)
			},
		},
		{
			name: "user create", synopsis: "--username U --fhir-user Patient/123", password: true,
			summary: "add a user who signs in at the authorization server",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&username, "username", "", "sign-in name (case-insensitive, unique)")
				fs.StringVar(&fhirUser, "fhir-user", "", "the user's FHIR resource: Patient/123, Practitioner/7, RelatedPerson/9")
			},
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
				password, err := readPassword(aio.stdin, aio.stderr)
				if err != nil {
					return err
				}
				u, err := smart.NewRegistry(st).CreateUser(ctx, username, password, fhirUser)
				if err != nil {
					return err
				}
				return printJSON(aio.stdout, viewUser(u))
			},
		},
		{name: "user list", summary: "list the users", flags: noFlags, run: func(ctx context.Context, st store.Store, aio adminIO) error {
			us, err := smart.NewRegistry(st).Users(ctx)
			if err != nil {
				return err
			}
			views := make([]userView, len(us))
			for i, u := range us {
				views[i] = viewUser(u)
			}
			return printJSON(aio.stdout, views)
		}},
		{
			name: "user reset-password", synopsis: "--username U", flags: usernameFlag, password: true,
			summary: "give a user a new password; the old one stops at once (tokens already issued do not: disable the user for that)",
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
				password, err := readPassword(aio.stdin, aio.stderr)
				if err != nil {
					return err
				}
				reg := smart.NewRegistry(st)
				if err := reg.SetPassword(ctx, username, password); err != nil {
					return err
				}
				return printUser(ctx, reg, aio.stdout)
			},
		},
		{
			name: "user disable", synopsis: "--username U", flags: usernameFlag,
			summary: "suspend a user: their sign-ins, tokens and refresh tokens stop within 5 s",
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
				reg := smart.NewRegistry(st)
				if err := reg.DisableUser(ctx, username); err != nil {
					return err
				}
				return printUser(ctx, reg, aio.stdout)
			},
		},
		{
			name: "user enable", synopsis: "--username U", flags: usernameFlag,
			summary: "end a user's suspension: their unexpired tokens work again",
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
				reg := smart.NewRegistry(st)
				if err := reg.EnableUser(ctx, username); err != nil {
					return err
				}
				return printUser(ctx, reg, aio.stdout)
			},
		},
		{
			name: "user delete", synopsis: "--username U", flags: usernameFlag,
			summary: "remove a user for good (password hashes too): their tokens stop within 5 s; the name is free again",
			run: func(ctx context.Context, st store.Store, aio adminIO) error {
				reg := smart.NewRegistry(st)
				u, err := reg.UserByUsername(ctx, username)
				if err != nil {
					return err
				}
				if err := reg.DeleteUser(ctx, username); err != nil {
					return err
				}
				return printJSON(aio.stdout, map[string]any{"id": u.ID, "username": u.Username, "deleted": true})
			},
		},
		{name: "keys rotate", summary: "make a new signing key; tokens signed with the previous one stay valid until they expire",
			flags: noFlags, run: func(ctx context.Context, st store.Store, aio adminIO) error {
				kid, err := smart.RotateKeys(ctx, st)
				if err != nil {
					return err
				}
				return printJSON(aio.stdout, map[string]string{"kid": kid})
			}},
	}
	return append(append(cmds, backupCommands()...), reindexCommand())
}
