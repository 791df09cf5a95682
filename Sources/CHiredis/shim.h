#ifndef LESSOR_CHIREDIS_SHIM_H
#define LESSOR_CHIREDIS_SHIM_H

/* hiredis 0.14 (Debian libhiredis-dev). Only the protocol half is used:
 * redisFormatCommandArgv to encode commands and redisReader to parse replies.
 * The sockets belong to SwiftNIO. */
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#endif
