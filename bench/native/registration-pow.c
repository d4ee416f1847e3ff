/*
 * The best native solver of the registration proof-of-work we could write here (issue 13): the
 * memory-hard puzzle (Argon2id v1.3, t 1, p 1, salt "opengateway:pow2") through libsodium's
 * crypto_pwhash (runtime-dispatched SSSE3/AVX2/AVX-512 BLAKE2b rounds), or the SHA-256 puzzle
 * through OpenSSL, one thread per core, each trying its own nonces. Prints tries per second and
 * the digest of nonce 0 (the bench checks it against the JS implementation).
 *
 *   cc -O3 -o registration-pow registration-pow.c -l:libsodium.so.23 -lcrypto -lpthread
 *   ./registration-pow argon2id|sha256 MEMORY_KIB THREADS SECONDS
 *
 * Debian ships the libsodium runtime without headers, so the two functions are declared here.
 */
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern int sodium_init(void);
extern int crypto_pwhash(unsigned char *out, unsigned long long outlen, const char *passwd,
                         unsigned long long passwdlen, const unsigned char *salt, unsigned long long opslimit,
                         size_t memlimit, int alg);
#define ARGON2ID13 2

static const char DOMAIN[] = "opengateway:registration-pow:v1\n"; /* 32 bytes */
static const unsigned char SALT[16] = "opengateway:pow2";
static int use_argon = 1;
static size_t memory_kib = 16384;
static double seconds = 5;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* domain ‖ public key ‖ fingerprint ‖ nonce as u64 BE (key and fingerprint: fixed test bytes). */
static void input(unsigned char buf[104], uint64_t nonce) {
  memcpy(buf, DOMAIN, 32);
  memset(buf + 32, 3, 32);
  memset(buf + 64, 7, 32);
  for (int i = 0; i < 8; i++) buf[96 + i] = (unsigned char)(nonce >> (56 - 8 * i));
}

static int digest(unsigned char out[32], uint64_t nonce) {
  unsigned char buf[104];
  input(buf, nonce);
  if (!use_argon) {
    SHA256(buf, sizeof buf, out);
    return 0;
  }
  return crypto_pwhash(out, 32, (const char *)buf, sizeof buf, SALT, 1, memory_kib * 1024, ARGON2ID13);
}

struct worker {
  uint64_t first, tries;
};

static void *run(void *arg) {
  struct worker *w = arg;
  unsigned char out[32];
  double end = now() + seconds;
  for (uint64_t nonce = w->first; now() < end; nonce += 64) {
    if (digest(out, nonce) != 0) {
      fprintf(stderr, "crypto_pwhash failed\n");
      exit(1);
    }
    w->tries++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s argon2id|sha256 MEMORY_KIB THREADS SECONDS\n", argv[0]);
    return 2;
  }
  use_argon = strcmp(argv[1], "sha256") != 0;
  memory_kib = strtoul(argv[2], NULL, 10);
  int threads = atoi(argv[3]);
  seconds = atof(argv[4]);
  if (sodium_init() < 0) return 1;
  unsigned char zero[32];
  if (digest(zero, 0) != 0) return 1;
  printf("{\"digest0\":\"");
  for (int i = 0; i < 32; i++) printf("%02x", zero[i]);
  struct worker workers[64] = {0};
  pthread_t ids[64];
  if (threads < 1 || threads > 64) return 2;
  double start = now();
  for (int i = 0; i < threads; i++) {
    workers[i].first = (uint64_t)i;
    pthread_create(&ids[i], NULL, run, &workers[i]);
  }
  uint64_t tries = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(ids[i], NULL);
    tries += workers[i].tries;
  }
  printf("\",\"triesPerSecond\":%.2f}\n", tries / (now() - start));
  return 0;
}
