// Vigil agent spool: thin, errno-checked wrappers over the POSIX calls the spool makes.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// POSIX file calls with `EINTR` retried and failures turned into `SpoolError.io`. The spool talks to file descriptors
/// directly (no Foundation `FileHandle`) so an append is one `writev` with no allocation.
enum FileIO {
    /// `open(2)` with `O_CLOEXEC`, so processes the agent spawns never inherit spool descriptors.
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(SpoolError) -> Int32 {
        while true {
            let fd = path.withCString { systemOpen($0, flags | O_CLOEXEC, mode) }
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw SpoolError.io("open", path: path)
        }
    }

    /// `open(2)` that returns nil instead of throwing when the file does not exist.
    static func openIfExists(_ path: String, flags: Int32) throws(SpoolError) -> Int32? {
        do {
            return try open(path, flags: flags)
        } catch {
            if error.systemError == ENOENT { return nil }
            throw error
        }
    }

    /// Writes `first` then `second` completely, with `writev` so one system call carries both; loops on short writes.
    static func writeAll(
        _ fd: Int32,
        _ first: UnsafeRawBufferPointer,
        _ second: UnsafeRawBufferPointer,
        path: String
    ) throws(SpoolError) {
        var firstDone = 0
        var secondDone = 0
        while firstDone < first.count || secondDone < second.count {
            var vectors = (
                iovec(
                    iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress.map { $0 + firstDone }),
                    iov_len: first.count - firstDone
                ),
                iovec(
                    iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress.map { $0 + secondDone }),
                    iov_len: second.count - secondDone
                )
            )
            let written = withUnsafeMutablePointer(to: &vectors) { pointer in
                pointer.withMemoryRebound(to: iovec.self, capacity: 2) { writev(fd, $0, 2) }
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw SpoolError.io("write", path: path)
            }
            var advance = written
            let fromFirst = min(advance, first.count - firstDone)
            firstDone += fromFirst
            advance -= fromFirst
            secondDone += advance
        }
    }

    /// Writes all of `bytes`.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(SpoolError) {
        try writeAll(fd, bytes, UnsafeRawBufferPointer(start: nil, count: 0), path: path)
    }

    /// Reads `buffer.count` bytes at `offset`; returns how many were read (fewer only at end of file).
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws(SpoolError) -> Int {
        var done = 0
        while done < buffer.count {
            guard let base = buffer.baseAddress else { return 0 }
            let count = pread(fd, base + done, buffer.count - done, off_t(offset + done))
            if count < 0 {
                if errno == EINTR { continue }
                throw SpoolError.io("read", path: path)
            }
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// `fdatasync(2)`: the data and the metadata needed to read it back (the file size) reach the disk.
    static func syncData(_ fd: Int32, path: String) throws(SpoolError) {
        while true {
            #if os(Linux)
                let result = fdatasync(fd)
            #else
                let result = fsync(fd)
            #endif
            if result == 0 { return }
            if errno == EINTR { continue }
            throw SpoolError.io("fdatasync", path: path)
        }
    }

    /// `fsync(2)` of a directory: makes file creations, renames and deletions in it durable.
    static func syncDirectory(_ fd: Int32, path: String) throws(SpoolError) {
        while true {
            if fsync(fd) == 0 { return }
            if errno == EINTR { continue }
            // Some file systems refuse fsync on directories; there is nothing more we can do about durability there.
            if errno == EINVAL || errno == EBADF { return }
            throw SpoolError.io("fsync directory", path: path)
        }
    }

    static func truncate(_ fd: Int32, to size: Int, path: String) throws(SpoolError) {
        while ftruncate(fd, off_t(size)) != 0 {
            if errno == EINTR { continue }
            throw SpoolError.io("ftruncate", path: path)
        }
    }

    /// Removes a file; a file that is already gone is not an error.
    static func unlink(_ path: String) throws(SpoolError) {
        if path.withCString({ systemUnlink($0) }) != 0 && errno != ENOENT {
            throw SpoolError.io("unlink", path: path)
        }
    }

    static func rename(_ from: String, _ to: String) throws(SpoolError) {
        let result = from.withCString { fromPointer in to.withCString { systemRename(fromPointer, $0) } }
        if result != 0 {
            throw SpoolError.io("rename", path: to)
        }
    }

    /// Size of an open file, and whether it is a regular file.
    static func status(_ fd: Int32, path: String) throws(SpoolError) -> (size: Int, isRegular: Bool) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SpoolError.io("fstat", path: path) }
        return (Int(info.st_size), (info.st_mode & S_IFMT) == S_IFREG)
    }

    /// Closes a descriptor, ignoring errors (there is no useful recovery from a failed `close`, and retrying on EINTR is
    /// wrong on Linux).
    static func close(_ fd: Int32) {
        if fd >= 0 {
            _ = systemClose(fd)
        }
    }

    /// The whole content of a small file, or nil when it does not exist or cannot be read.
    static func readSmallFile(_ path: String, limit: Int) -> [UInt8]? {
        guard let fd = try? open(path, flags: O_RDONLY) else { return nil }
        defer { close(fd) }
        guard let status = try? status(fd, path: path), status.isRegular, status.size <= limit else { return nil }
        var bytes = [UInt8](repeating: 0, count: status.size)
        let count = bytes.withUnsafeMutableBytes { buffer in (try? read(fd, into: buffer, at: 0, path: path)) ?? -1 }
        guard count == status.size else { return nil }
        return bytes
    }

    /// Current wall-clock time in milliseconds since the Unix epoch (the record's append time).
    static func wallClockMilliseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(max(0, now.tv_sec)) &* 1000 &+ UInt64(max(0, now.tv_nsec)) / 1_000_000
    }

    /// Monotonic nanoseconds, for durations (fsync timing, the fsync interval).
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(max(0, now.tv_sec)) &* 1_000_000_000 &+ UInt64(max(0, now.tv_nsec))
    }
}

// Module-level names for the libc functions that `FileIO`'s own static methods shadow.
private func systemOpen(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t) -> Int32 {
    open(path, flags, mode)
}

private func systemClose(_ fd: Int32) -> Int32 {
    close(fd)
}

private func systemUnlink(_ path: UnsafePointer<CChar>) -> Int32 {
    unlink(path)
}

private func systemRename(_ from: UnsafePointer<CChar>, _ to: UnsafePointer<CChar>) -> Int32 {
    rename(from, to)
}
