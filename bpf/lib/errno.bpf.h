/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The errno values the programs return or compare, by name: vmlinux.h has
 * no macros, and a bare -17 says nothing to a reader.
 */
#ifndef UG_ERRNO_BPF_H
#define UG_ERRNO_BPF_H

#ifndef EPERM
#define EPERM 1
#endif
#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef ENAMETOOLONG
#define ENAMETOOLONG 36
#endif

#endif
