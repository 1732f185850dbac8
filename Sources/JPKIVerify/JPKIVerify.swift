import COpenSSL
import JPKI
