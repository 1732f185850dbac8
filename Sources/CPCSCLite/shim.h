// pcsc-lite's own declarations; nothing here re-declares its ABI.
#ifndef CPCSCLITE_SHIM_H
#define CPCSCLITE_SHIM_H
#include <winscard.h>
#include <reader.h>

/// SCARD_PCI_T0/T1 are macros over extern globals: expose them as functions.
static inline const SCARD_IO_REQUEST *cpcsc_pci_t0(void) { return SCARD_PCI_T0; }
static inline const SCARD_IO_REQUEST *cpcsc_pci_t1(void) { return SCARD_PCI_T1; }
static inline const SCARD_IO_REQUEST *cpcsc_pci_raw(void) { return SCARD_PCI_RAW; }
static inline DWORD cpcsc_infinite(void) { return INFINITE; }
static inline DWORD cpcsc_autoallocate(void) { return SCARD_AUTOALLOCATE; }
static inline DWORD cpcsc_max_atr_size(void) { return MAX_ATR_SIZE; }
/// The PnP pseudo-reader name used with SCardGetStatusChange.
static inline const char *cpcsc_pnp_notification(void) { return "\\\\?PnP?\\Notification"; }
#endif
