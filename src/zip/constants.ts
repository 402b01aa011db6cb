/** Signatures, fixed sizes and flag values from APPNOTE 6.3.x, in one place. */

// APPNOTE 4.3.7 / 4.3.9 / 4.3.12 / 4.3.14 / 4.3.15 / 4.3.16
export const LOCAL_FILE_HEADER_SIGNATURE = 0x04034b50;
export const DATA_DESCRIPTOR_SIGNATURE = 0x08074b50;
export const CENTRAL_DIRECTORY_RECORD_SIGNATURE = 0x02014b50;
export const ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIGNATURE = 0x06064b50;
export const ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIGNATURE = 0x07064b50;
export const END_OF_CENTRAL_DIRECTORY_RECORD_SIGNATURE = 0x06054b50;

export const LOCAL_FILE_HEADER_FIXED_SIZE = 30; // APPNOTE 4.3.7
export const DATA_DESCRIPTOR_SIZE = 16; // APPNOTE 4.3.9, with signature
export const ZIP64_DATA_DESCRIPTOR_SIZE = 24; // APPNOTE 4.3.9.2, 8-byte sizes
export const CENTRAL_DIRECTORY_RECORD_FIXED_SIZE = 46; // APPNOTE 4.3.12
export const EXTENDED_TIMESTAMP_EXTRA_FIELD_SIZE = 9; // Info-ZIP "UT", APPNOTE 4.6.1
export const ZIP64_EXTENDED_INFORMATION_EXTRA_FIELD_SIZE = 28; // APPNOTE 4.5.3
export const LOCAL_ZIP64_EXTRA_FIELD_SIZE = 20; // APPNOTE 4.5.3 in a local header: both sizes
export const ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIZE = 56; // APPNOTE 4.3.14
export const ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIZE = 20; // APPNOTE 4.3.15
export const END_OF_CENTRAL_DIRECTORY_RECORD_SIZE = 22; // APPNOTE 4.3.16

// APPNOTE 4.4.2: upper byte 3 = UNIX (so readers honour the mode), lower = spec 6.3.
export const VERSION_MADE_BY = (3 << 8) | 63;
// APPNOTE 4.4.3.2: 2.0 for deflate/directories, 4.5 for ZIP64.
export const VERSION_NEEDED_DEFAULT = 20;
export const VERSION_NEEDED_ZIP64 = 45;

// APPNOTE 4.4.4 general purpose bit flag
export const FLAG_DATA_DESCRIPTOR = 1 << 3; // sizes and CRC follow the data
export const FLAG_UTF8 = 1 << 11; // name and comment are UTF-8

// APPNOTE 4.4.5 compression method
export const METHOD_STORE = 0;
export const METHOD_DEFLATE = 8;

export const UINT16_MAX = 0xffff;
export const UINT32_MAX = 0xffffffff;
// yazl switches an entry to ZIP64 when a size or offset exceeds this (>= 0xffffffff),
// leaving 0xffffffff itself free as the "see ZIP64 extra field" marker (APPNOTE 4.4.8).
export const ZIP64_ENTRY_THRESHOLD = 0xfffffffe;

// Info-ZIP "UT" extra field id and flags (mtime | atime, as Info-ZIP's zip writes).
export const EXTENDED_TIMESTAMP_TAG = 0x5455;
export const EXTENDED_TIMESTAMP_FLAGS = 0b11;
export const ZIP64_EXTRA_TAG = 0x0001;

export const DEFAULT_FILE_MODE = 0o100664;
export const DEFAULT_DIRECTORY_MODE = 0o40775;
export const DEFAULT_DEFLATE_LEVEL = 6;
