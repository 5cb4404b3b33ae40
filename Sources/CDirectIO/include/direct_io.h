#ifndef LLAMA_CONVERT_DIRECT_IO_H
#define LLAMA_CONVERT_DIRECT_IO_H

/// The open(2) flag O_DIRECT where the platform has one, else 0. Glibc declares it only under
/// _GNU_SOURCE, which Swift's Glibc module does not see.
int llama_convert_o_direct_flag(void);

#endif
