// A Go program whose TLS is Go's own crypto/tls (no OpenSSL), for the TLS end-to-end tests
// (tests/e2e/tls_test.cpp). Built by tests/e2e/CMakeLists.txt with Debian's golang-1.22-go.
//
//	tls_peer server CERT KEY TLS_PORT PLAIN_PORT
//	    net/http on both ports (HTTP/2 and HTTP/1.1 over TLS; HTTP/1.1 in the clear), one process:
//	    GET /users/{id} -> JSON, GET /error -> 500, other paths -> 404. Prints "READY".
//	tls_peer client CA PARALLEL URL...
//	    GETs every URL over one keep-alive http.Client (HTTP/1.1), PARALLEL goroutines at a time,
//	    then prints "STATUS <path> <code>" per request and "DONE".
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
)

func handler(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/users/"):
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id": %q, "name": "user"}`, strings.TrimPrefix(r.URL.Path, "/users/"))
	case r.URL.Path == "/error":
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
	default:
		http.NotFound(w, r)
	}
}

func server(cert, key, tlsPort, plainPort string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", handler)
	errs := make(chan error, 2)
	go func() { errs <- http.ListenAndServeTLS("127.0.0.1:"+tlsPort, cert, key, mux) }()
	go func() { errs <- http.ListenAndServe("127.0.0.1:"+plainPort, mux) }()
	fmt.Println("READY")
	fmt.Fprintln(os.Stderr, <-errs)
	os.Exit(1)
}

func client(ca string, parallel int, urls []string) {
	pem, err := os.ReadFile(ca)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: parallel,
	}}
	results := make([]string, len(urls))
	var wg sync.WaitGroup
	slots := make(chan struct{}, parallel)
	for i, u := range urls {
		wg.Add(1)
		slots <- struct{}{}
		go func(i int, u string) {
			defer wg.Done()
			defer func() { <-slots }()
			resp, err := c.Get(u)
			if err != nil {
				results[i] = "ERROR " + err.Error()
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			parsed, _ := url.Parse(u)
			results[i] = fmt.Sprintf("STATUS %s %d", parsed.Path, resp.StatusCode)
		}(i, u)
	}
	wg.Wait()
	for _, r := range results {
		fmt.Println(r)
	}
	fmt.Println("DONE")
}

func main() {
	if len(os.Args) >= 6 && os.Args[1] == "server" {
		server(os.Args[2], os.Args[3], os.Args[4], os.Args[5])
	}
	if len(os.Args) >= 4 && os.Args[1] == "client" {
		parallel, err := strconv.Atoi(os.Args[3])
		if err != nil || parallel < 1 {
			parallel = 1
		}
		client(os.Args[2], parallel, os.Args[4:])
		return
	}
	fmt.Fprintln(os.Stderr, "usage: tls_peer server CERT KEY TLS_PORT PLAIN_PORT | client CA PARALLEL URL...")
	os.Exit(2)
}
