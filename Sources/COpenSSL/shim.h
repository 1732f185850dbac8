#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/sha.h>
#include <openssl/objects.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>

// Macro-only values and helpers, exposed as functions for Swift.
static inline long copenssl_bio_get_mem_data(BIO *bio, char **pp) { return BIO_get_mem_data(bio, pp); }
static inline int copenssl_rsa_pkcs1_padding(void) { return RSA_PKCS1_PADDING; }
static inline int copenssl_evp_pkey_rsa(void) { return EVP_PKEY_RSA; }
static inline int copenssl_ocsp_response_status_successful(void) { return OCSP_RESPONSE_STATUS_SUCCESSFUL; }
static inline int copenssl_v_cert_status_good(void) { return V_OCSP_CERTSTATUS_GOOD; }
static inline int copenssl_v_cert_status_revoked(void) { return V_OCSP_CERTSTATUS_REVOKED; }
static inline STACK_OF(X509) *copenssl_sk_x509_new_null(void) { return sk_X509_new_null(); }
static inline int copenssl_sk_x509_push(STACK_OF(X509) *sk, X509 *x) { return sk_X509_push(sk, x); }
static inline void copenssl_sk_x509_pop_free(STACK_OF(X509) *sk) { sk_X509_pop_free(sk, X509_free); }
static inline int copenssl_sk_x509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *copenssl_sk_x509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }
static inline void copenssl_openssl_free(void *p) { OPENSSL_free(p); }
static inline void copenssl_cleanse(void *p, size_t n) { OPENSSL_cleanse(p, n); }
#endif
