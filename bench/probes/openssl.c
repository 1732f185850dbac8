/* Start-up probe (bench/run part 0): loading libcrypto and initialising it, as JPKIVerify does
 * through OpenSSL 3 (algorithms and error strings), in plain C. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>

int main(void) {
    if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS, NULL))
        return 1;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    printf("probe %d\n", md != NULL);
    EVP_MD_free(md);
    return 0;
}
