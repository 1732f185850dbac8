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

// JPKIVerify additions (macro-only values and stack helpers).
#include <openssl/param_build.h>
static inline int copenssl_evp_pkey_public_key(void) { return EVP_PKEY_PUBLIC_KEY; }
static inline unsigned long copenssl_xn_flag_rfc2253_utf8(void) { return XN_FLAG_RFC2253 & ~(unsigned long)ASN1_STRFLGS_ESC_MSB; }
static inline int copenssl_sk_num(const void *sk) { return OPENSSL_sk_num((const OPENSSL_STACK *)sk); }
static inline void *copenssl_sk_value(const void *sk, int i) { return OPENSSL_sk_value((const OPENSSL_STACK *)sk, i); }
static inline void copenssl_sk_x509_free(STACK_OF(X509) *sk) { sk_X509_free(sk); }
static inline void copenssl_sk_x509_crl_pop_free(STACK_OF(X509_CRL) *sk) { sk_X509_CRL_pop_free(sk, X509_CRL_free); }
static inline STACK_OF(X509_CRL) *copenssl_sk_x509_crl_new_null(void) { return sk_X509_CRL_new_null(); }
static inline int copenssl_sk_x509_crl_push(STACK_OF(X509_CRL) *sk, X509_CRL *c) { return sk_X509_CRL_push(sk, c); }
static inline void copenssl_x509_email_free(STACK_OF(OPENSSL_STRING) *sk) { X509_email_free(sk); }
static inline void copenssl_general_names_free(GENERAL_NAMES *g) { GENERAL_NAMES_free(g); }
static inline int copenssl_x509_store_ctx_set_app_data(X509_STORE_CTX *ctx, void *p) { return X509_STORE_CTX_set_ex_data(ctx, 0, p); }
static inline void *copenssl_x509_store_ctx_get_app_data(X509_STORE_CTX *ctx) { return X509_STORE_CTX_get_ex_data(ctx, 0); }
static inline int copenssl_v_cert_status_unknown(void) { return V_OCSP_CERTSTATUS_UNKNOWN; }
static inline unsigned long copenssl_ocsp_trustother(void) { return OCSP_TRUSTOTHER; }
static inline int copenssl_gen_uri(void) { return GEN_URI; }
static inline int copenssl_gen_dirname(void) { return GEN_DIRNAME; }
static inline int copenssl_gen_othername(void) { return GEN_OTHERNAME; }
// ECDSA (JPKIVerify, CardSimulator).
#include <openssl/ec.h>
static inline int copenssl_evp_pkey_ec(void) { return EVP_PKEY_EC; }
#endif
