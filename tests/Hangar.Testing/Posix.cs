using System.Runtime.InteropServices;

namespace Hangar.Testing;

internal static partial class Posix
{
    public const int SigInt = 2;

    public const int SigQuit = 3;

    public const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    public static bool IsRoot => GetEffectiveUserId() == 0;
}
