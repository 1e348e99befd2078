// Command portico is a FHIR R4 server for patient portals.
//
//	portico [serve] [flags]          serve the FHIR API (the default)
//	portico conformance --base-url   run the black-box conformance suite against a FHIR server
//	portico admin app|user|keys ...  manage SMART apps, users and signing keys
//	portico healthcheck              exit 0 when the local server is ready (the container's HEALTHCHECK)
package main

import (
	"fmt"
	"os"
	_ "time/tzdata" // time zones without the system's zoneinfo (the container is built from scratch)
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		os.Exit(runServe(args))
	case "conformance":
		os.Exit(runConformance(args))
	case "admin":
		os.Exit(runAdmin(args))
	case "healthcheck":
		os.Exit(runHealthcheck(args))
	case "help":
		fmt.Println("usage: portico [serve|conformance|admin|healthcheck] [flags]; portico COMMAND -h for the flags")
	default:
		fmt.Fprintf(os.Stderr, "portico: unknown command %q (serve, conformance, admin, healthcheck)\n", cmd)
		os.Exit(2)
	}
}
