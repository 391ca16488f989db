/* zt_tls_pingpong: what an OpenSSL read or write call costs, with no network in the way.
 *
 * Two SSL objects of this process (a client and a server) talk TLS 1.3 over a BIO pair
 * (BIO_new_bio_pair: memory buffers, no socket, no syscall per call), with a self-signed P-256
 * certificate made in memory (no files). After the handshake, one iteration is four calls:
 *   client SSL_write_ex(100 bytes), server SSL_read_ex, server SSL_write_ex(100), client SSL_read_ex
 * (--plain-api: SSL_write/SSL_read instead). The timed loop is measured with CLOCK_MONOTONIC and
 * reported as
 *   calls_per_iteration=4 iterations=N us_per_iteration=X us_per_call=Y
 *
 * So that a tracer can attach first, the program prints `ready pid=PID` after the handshake and
 * waits for a line on standard input (or, with --wait-file PATH, for PATH to exist; --no-wait:
 * not at all), then runs --warmup iterations untimed and the N timed ones.
 *
 * The process holds a socket (an AF_UNIX socketpair, never used) for the whole run: zerotrace's
 * node mode (`zerotrace run`) probes a process's TLS code only once it holds a socket, and the
 * BIO pair has none. The plaintext of these calls cannot be tied to a connection (the agent counts
 * it as kernel.tls_unbound), but the probes fire on every call, and their cost is what this
 * measures (bench/tls_cost.sh).
 *
 *   zt_tls_pingpong [--iterations N (20000)] [--warmup N (200)] [--bytes N (100)] [--plain-api]
 *                   [--wait-file PATH | --no-wait]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static void die(const char *what) {
	fprintf(stderr, "zt_tls_pingpong: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void usage(void) {
	fprintf(stderr, "usage: zt_tls_pingpong [--iterations N] [--warmup N] [--bytes N] [--plain-api] "
	                "[--wait-file PATH | --no-wait]\n");
	exit(2);
}

static long parse_count(const char *s, long min, long max) {
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !end || *end || v < min || v > max) usage();
	return v;
}

/* A self-signed certificate for the key, valid for a day, CN=zt-tls-pingpong. */
static X509 *self_signed(EVP_PKEY *key) {
	X509 *cert = X509_new();
	if (!cert) die("X509_new failed");
	if (!X509_set_version(cert, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -60) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 24L * 3600) || !X509_set_pubkey(cert, key))
		die("building the certificate failed");
	X509_NAME *name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"zt-tls-pingpong", -1, -1,
	                                0) ||
	    !X509_set_issuer_name(cert, name) || !X509_sign(cert, key, EVP_sha256()))
		die("signing the certificate failed");
	return cert;
}

static SSL_CTX *context(int server, EVP_PKEY *key, X509 *cert) {
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) die("SSL_CTX_new failed");
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		die("restricting to TLS 1.3 failed");
	if (server && (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1))
		die("loading the certificate failed");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static int plain_api;

static void write_all(SSL *ssl, const unsigned char *buf, size_t len) {
	if (plain_api) {
		if (SSL_write(ssl, buf, (int)len) != (int)len) die("SSL_write failed");
	} else {
		size_t written = 0;
		if (SSL_write_ex(ssl, buf, len, &written) != 1 || written != len) die("SSL_write_ex failed");
	}
}

/* One record was written by the peer; one call reads it whole. */
static void read_all(SSL *ssl, unsigned char *buf, size_t len) {
	if (plain_api) {
		if (SSL_read(ssl, buf, (int)len) != (int)len) die("SSL_read returned less than one message");
	} else {
		size_t got = 0;
		if (SSL_read_ex(ssl, buf, len, &got) != 1 || got != len) die("SSL_read_ex returned less than one message");
	}
}

static void iterate(SSL *client, SSL *server, unsigned char *out, unsigned char *in, size_t bytes, long n) {
	for (long i = 0; i < n; i++) {
		out[0] = (unsigned char)i;
		write_all(client, out, bytes);
		read_all(server, in, bytes);
		write_all(server, in, bytes);
		read_all(client, in, bytes);
		if (in[0] != (unsigned char)i) die("the echo differs from the request");
	}
}

static double now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
	long iterations = 20000, warmup = 200, bytes = 100;
	const char *wait_file = NULL;
	int wait_stdin = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--iterations") && i + 1 < argc)
			iterations = parse_count(argv[++i], 1, 100000000);
		else if (!strcmp(a, "--warmup") && i + 1 < argc)
			warmup = parse_count(argv[++i], 0, 100000000);
		else if (!strcmp(a, "--bytes") && i + 1 < argc)
			bytes = parse_count(argv[++i], 1, 16384);
		else if (!strcmp(a, "--plain-api"))
			plain_api = 1;
		else if (!strcmp(a, "--wait-file") && i + 1 < argc)
			wait_file = argv[++i];
		else if (!strcmp(a, "--no-wait"))
			wait_stdin = 0;
		else
			usage();
	}

	int held[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, held) != 0) die("socketpair failed");

	EVP_PKEY *key = EVP_EC_gen("P-256");
	if (!key) die("EVP_EC_gen failed");
	X509 *cert = self_signed(key);
	SSL_CTX *sctx = context(1, key, cert), *cctx = context(0, NULL, NULL);
	SSL *server = SSL_new(sctx), *client = SSL_new(cctx);
	if (!server || !client) die("SSL_new failed");
	BIO *cbio = NULL, *sbio = NULL;
	if (!BIO_new_bio_pair(&cbio, 0, &sbio, 0)) die("BIO_new_bio_pair failed");
	SSL_set_bio(client, cbio, cbio);
	SSL_set_bio(server, sbio, sbio);
	SSL_set_connect_state(client);
	SSL_set_accept_state(server);

	/* Step both ends until both finish; each step moves whatever the other wrote. */
	int cdone = 0, sdone = 0;
	for (int step = 0; !(cdone && sdone); step++) {
		if (step > 100) die("the handshake did not finish");
		if (!cdone) {
			int r = SSL_do_handshake(client);
			if (r == 1) cdone = 1;
			else if (SSL_get_error(client, r) != SSL_ERROR_WANT_READ) die("client handshake failed");
		}
		if (!sdone) {
			int r = SSL_do_handshake(server);
			if (r == 1) sdone = 1;
			else if (SSL_get_error(server, r) != SSL_ERROR_WANT_READ) die("server handshake failed");
		}
	}
	if (SSL_version(client) != TLS1_3_VERSION) die("not TLS 1.3");

	unsigned char *out = calloc(1, (size_t)bytes), *in = calloc(1, (size_t)bytes);
	if (!out || !in) die("out of memory");
	memset(out, 'z', (size_t)bytes);
	/* The first exchange also carries the server's session tickets to the client. */
	iterate(client, server, out, in, (size_t)bytes, 1);

	printf("ready pid=%d api=%s bytes=%ld\n", (int)getpid(), plain_api ? "SSL_read/SSL_write" : "SSL_read_ex/SSL_write_ex",
	       bytes);
	fflush(stdout);
	if (wait_file) {
		struct stat st;
		while (stat(wait_file, &st) != 0) usleep(10000);
	} else if (wait_stdin) {
		char line[64];
		if (!fgets(line, sizeof line, stdin)) die("standard input closed before the go line");
	}

	iterate(client, server, out, in, (size_t)bytes, warmup);
	double t0 = now_us();
	iterate(client, server, out, in, (size_t)bytes, iterations);
	double t1 = now_us();
	double per_iteration = (t1 - t0) / (double)iterations;
	printf("calls_per_iteration=4 iterations=%ld us_per_iteration=%.3f us_per_call=%.3f\n", iterations,
	       per_iteration, per_iteration / 4);
	fflush(stdout);

	SSL_free(client);
	SSL_free(server);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	free(out);
	free(in);
	close(held[0]);
	close(held[1]);
	return 0;
}
