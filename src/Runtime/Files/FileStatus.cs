using System.Runtime.InteropServices;

namespace GpuLstm.Runtime.Files;

/// <summary>What a path names, after following symbolic links.</summary>
internal enum FileKind { Missing, Regular, Directory, Pipe, CharacterDevice, BlockDevice, Socket, Other }

/// <summary>
/// A path's kind and identity (device and inode), as stat(2) reports them after following symbolic links. Two
/// paths name the same file exactly when their identities are equal: relative spellings, "./", "..", symbolic
/// links and hard links all resolve to the same (device, inode). <see cref="HasIdentity"/> is false where the
/// platform gives none (then callers compare full paths).
/// </summary>
internal readonly record struct FileStatus(FileKind Kind, ulong Device, ulong Inode, bool HasIdentity)
{
    public bool Exists => Kind != FileKind.Missing;

    /// <summary>The kind in the user's words ("a directory", "a pipe").</summary>
    public string Describe() => Kind switch
    {
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.Pipe => "a pipe",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Socket => "a socket",
        FileKind.Missing => "missing",
        _ => "not a regular file",
    };

    /// <summary>stat(2) of <paramref name="path"/>; a path that does not exist (or whose directory does not) is <see cref="FileKind.Missing"/>.</summary>
    public static FileStatus Of(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Native.TryStat(path, out var status)) return status;
        // No stat on this platform: the kind from the managed API, no identity.
        if (Directory.Exists(path)) return new FileStatus(FileKind.Directory, 0, 0, false);
        if (File.Exists(path)) return new FileStatus(FileKind.Regular, 0, 0, false);
        return new FileStatus(FileKind.Missing, 0, 0, false);
    }

    /// <summary>
    /// stat(2) through libc. The layouts used are the kernel ABIs of 64-bit Linux (x86-64: st_mode at byte 24;
    /// arm64 and the other "generic" ports: byte 16; st_dev and st_ino at bytes 0 and 8 on all of them) and of
    /// macOS (64-bit inodes: st_dev int32 at 0, st_mode uint16 at 4, st_ino at 8).
    /// </summary>
    private static class Native
    {
        private const int ENOENT = 2, ENOTDIR = 20, ENAMETOOLONG = 36, ELOOP = 40, MacEloop = 62, MacEnametoolong = 63;
        private static readonly bool Linux64 = OperatingSystem.IsLinux() && IntPtr.Size == 8;
        private static readonly bool Mac = OperatingSystem.IsMacOS();
        private static int _entryPoint; // 0: stat, 1: __xstat (glibc before 2.33), -1: none

        [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
        private static extern unsafe int Stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buffer);

        [DllImport("libc", EntryPoint = "__xstat", SetLastError = true)]
        private static extern unsafe int XStat(int version, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buffer);

        [DllImport("libc", EntryPoint = "stat$INODE64", SetLastError = true)]
        private static extern unsafe int MacStatInode64([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buffer);

        public static unsafe bool TryStat(string path, out FileStatus status)
        {
            status = default;
            if ((!Linux64 && !Mac) || _entryPoint < 0) return false;
            byte* buffer = stackalloc byte[512];
            int rc;
            try
            {
                rc = Mac
                    ? (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? MacStatInode64(path, buffer) : Stat(path, buffer))
                    : _entryPoint == 0 ? Stat(path, buffer)
                    : XStat(RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 1 : 0, path, buffer);
            }
            catch (EntryPointNotFoundException) when (_entryPoint == 0 && !Mac)
            {
                _entryPoint = 1;
                return TryStat(path, out status);
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
            {
                _entryPoint = -1;
                return false;
            }
            if (rc != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is ENOENT or ENOTDIR || (!Mac && errno is ENAMETOOLONG or ELOOP) || (Mac && errno is MacEnametoolong or MacEloop))
                {
                    status = new FileStatus(FileKind.Missing, 0, 0, true);
                    return true;
                }
                return false; // permission denied and the like: let the managed API report it
            }
            uint mode;
            ulong device, inode;
            if (Mac)
            {
                device = (uint)*(int*)buffer;
                mode = *(ushort*)(buffer + 4);
                inode = *(ulong*)(buffer + 8);
            }
            else
            {
                device = *(ulong*)buffer;
                inode = *(ulong*)(buffer + 8);
                mode = *(uint*)(buffer + (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16));
            }
            var kind = (mode & 0xF000) switch
            {
                0x8000 => FileKind.Regular,
                0x4000 => FileKind.Directory,
                0x1000 => FileKind.Pipe,
                0x2000 => FileKind.CharacterDevice,
                0x6000 => FileKind.BlockDevice,
                0xC000 => FileKind.Socket,
                _ => FileKind.Other,
            };
            status = new FileStatus(kind, device, inode, true);
            return true;
        }
    }
}
