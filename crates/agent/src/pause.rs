//! The pause container of an `awsvpc` task: it holds the task's network namespace (its address on the subnet's
//! Docker network) and the task's containers join it (`NetworkMode: container:<pause>`), so they reach each other
//! on `localhost` and share one address, as on ECS.
//!
//! No image can be pulled for it, so the agent builds one: [`pause_program`] generates a complete static x86-64
//! Linux executable (216 bytes, written below byte by byte) that installs a handler for SIGTERM and SIGINT which
//! exits with status 0, then waits in `pause()` forever. [`rootfs_tar`] packs it as `/pause` and the runtime
//! imports that as [`image`] (`docker import` with `CMD ["/pause"]`).
//!
//! A handler is needed because the pause process is PID 1 of its PID namespace: the kernel delivers to such a
//! process only the signals it handles (and SIGKILL from outside), so without one `docker stop` would wait for its
//! timeout. On x86-64 the kernel needs `SA_RESTORER` with a restorer address to deliver a signal to a handler;
//! the handler never returns, so the restorer is never run and points at the handler itself.

use crate::runtime::{ContainerRuntime, RuntimeError};

/// The version of the pause program; a change to the bytes changes it, so hosts import the new image.
pub const VERSION: &str = "1";

/// The pause image's reference.
pub fn image() -> String {
    format!("berth/pause:{VERSION}")
}

/// The pause program's load address (the conventional base of a static x86-64 executable).
const BASE: u64 = 0x40_0000;
/// ELF header (64 bytes) + one program header (56 bytes).
const HEADERS: usize = 64 + 56;

/// The machine code (x86-64), with the offsets the jumps and the address of `act` depend on.
///
/// ```text
///  0  48 8d 35 39 00 00 00   lea  rsi, [rip + 0x39]      ; rsi = &act (7 + 0x39 = 64)
///  7  bf 0f 00 00 00         mov  edi, 15                ; SIGTERM
/// 12  31 d2                  xor  edx, edx               ; no old action
/// 14  41 ba 08 00 00 00      mov  r10d, 8                ; sizeof(sigset_t)
/// 20  b8 0d 00 00 00         mov  eax, 13                ; rt_sigaction
/// 25  0f 05                  syscall
/// 27  bf 02 00 00 00         mov  edi, 2                 ; SIGINT (rsi, rdx, r10 survive syscall)
/// 32  b8 0d 00 00 00         mov  eax, 13                ; rt_sigaction
/// 37  0f 05                  syscall
/// 39  b8 22 00 00 00         mov  eax, 34                ; loop: pause
/// 44  0f 05                  syscall
/// 46  eb f7                  jmp  loop                   ; 48 - 9 = 39
/// 48  31 ff                  xor  edi, edi               ; handler: status 0
/// 50  b8 e7 00 00 00         mov  eax, 231               ; exit_group
/// 55  0f 05                  syscall
/// 57  00 x 7                                             ; padding to 8 bytes
/// 64  act: the kernel's struct sigaction, four 8-byte words:
///     handler address, flags SA_RESTORER (0x04000000), restorer (the handler), mask 0
/// ```
fn code() -> Vec<u8> {
    const HANDLER: u64 = 48;
    let handler = BASE + HEADERS as u64 + HANDLER;
    let mut code: Vec<u8> = vec![
        0x48, 0x8d, 0x35, 0x39, 0x00, 0x00, 0x00, // lea rsi, [rip + 57]
        0xbf, 0x0f, 0x00, 0x00, 0x00, // mov edi, 15
        0x31, 0xd2, // xor edx, edx
        0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // mov r10d, 8
        0xb8, 0x0d, 0x00, 0x00, 0x00, // mov eax, 13
        0x0f, 0x05, // syscall
        0xbf, 0x02, 0x00, 0x00, 0x00, // mov edi, 2
        0xb8, 0x0d, 0x00, 0x00, 0x00, // mov eax, 13
        0x0f, 0x05, // syscall
        0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34
        0x0f, 0x05, // syscall
        0xeb, 0xf7, // jmp -9
        0x31, 0xff, // xor edi, edi
        0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231
        0x0f, 0x05, // syscall
        0, 0, 0, 0, 0, 0, 0, // padding
    ];
    for word in [handler, 0x0400_0000, handler, 0] {
        code.extend_from_slice(&word.to_le_bytes());
    }
    code
}

/// The pause program: a static x86-64 ELF executable, one loadable segment (read and execute) holding the whole
/// file at [`BASE`].
pub fn pause_program() -> Vec<u8> {
    let code = code();
    let size = (HEADERS + code.len()) as u64;
    let mut elf = Vec::with_capacity(HEADERS + code.len());
    // ELF header.
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F']); // magic
    elf.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little-endian, ELF version 1, System V ABI
    elf.extend_from_slice(&[0; 8]); // ABI version and padding
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: executable
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // e_machine: x86-64
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&(BASE + HEADERS as u64).to_le_bytes()); // e_entry: the first instruction
    elf.extend_from_slice(&64u64.to_le_bytes()); // e_phoff: program headers right after this header
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff: no section headers
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    elf.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    elf.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
    elf.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    elf.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
    elf.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    elf.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    // Program header: PT_LOAD of the whole file.
    elf.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // p_flags: read + execute
    elf.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    elf.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    elf.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    elf.extend_from_slice(&size.to_le_bytes()); // p_filesz
    elf.extend_from_slice(&size.to_le_bytes()); // p_memsz
    elf.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    elf.extend_from_slice(&code);
    elf
}

/// A tar archive holding the pause program as `/pause` (mode 0755, owned by root): the image's root filesystem.
pub fn rootfs_tar() -> Vec<u8> {
    let program = pause_program();
    let mut header = [0u8; 512];
    let mut field = |offset: usize, value: &[u8]| header[offset..offset + value.len()].copy_from_slice(value);
    field(0, b"pause"); // name
    field(100, b"0000755\0"); // mode
    field(108, b"0000000\0"); // uid
    field(116, b"0000000\0"); // gid
    field(124, format!("{:011o}\0", program.len()).as_bytes()); // size
    field(136, b"00000000000\0"); // mtime
    field(148, b"        "); // checksum, as spaces while summing
    field(156, b"0"); // type: regular file
    field(257, b"ustar\0"); // magic
    field(263, b"00"); // version
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(&program);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]); // two empty blocks end the archive
    tar
}

/// Makes sure the pause image exists on the engine, importing it when missing.
pub async fn ensure_image<R: ContainerRuntime>(runtime: &R, arch: &str) -> Result<String, RuntimeError> {
    let image = image();
    if runtime.inspect_image(&image).await?.is_some() {
        return Ok(image);
    }
    if !matches!(arch, "" | "x86_64" | "amd64") {
        return Err(RuntimeError::Invalid {
            call: "import_image",
            target: image,
            message: format!("Berth's pause program is built for x86_64 only; this host is {arch}"),
        });
    }
    runtime.import_image(&image, rootfs_tar(), &[r#"CMD ["/pause"]"#.to_string()]).await?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_a_well_formed_elf() {
        let elf = pause_program();
        assert_eq!(elf.len(), 216);
        assert_eq!(&elf[..4], b"\x7fELF");
        let entry = u64::from_le_bytes(elf[24..32].try_into().unwrap());
        assert_eq!(entry, BASE + 120);
        let filesz = u64::from_le_bytes(elf[64 + 32..64 + 40].try_into().unwrap());
        assert_eq!(filesz, 216);
        // `act` sits at the offset the lea computes: 7 + 0x39 past the first instruction.
        let act = HEADERS + 7 + 0x39;
        let handler = u64::from_le_bytes(elf[act..act + 8].try_into().unwrap());
        assert_eq!(handler, BASE + 120 + 48);
        assert_eq!(&elf[120 + 48..120 + 50], &[0x31, 0xff]);
    }

    #[test]
    fn the_rootfs_is_a_valid_tar() {
        let tar = rootfs_tar();
        assert_eq!(tar.len() % 512, 0);
        assert_eq!(&tar[257..262], b"ustar");
        let mut header = tar[..512].to_vec();
        let stored = u32::from_str_radix(std::str::from_utf8(&header[148..154]).unwrap(), 8).unwrap();
        header[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, header.iter().map(|b| u32::from(*b)).sum::<u32>());
    }

    /// Runs the program on this host (x86-64 Linux): it blocks until SIGTERM, then exits with status 0.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    #[allow(clippy::disallowed_methods)] // a real process on the real clock
    fn the_program_pauses_and_exits_on_sigterm() {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::ExitStatusExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pause");
        std::fs::write(&path, pause_program()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new(&path).spawn().unwrap();
        // Wait until both handlers are installed (SigCgt has bits 2 and 15: SIGINT, SIGTERM).
        let status_path = format!("/proc/{}/status", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let status = std::fs::read_to_string(&status_path).unwrap();
            let caught = status.lines().find_map(|l| l.strip_prefix("SigCgt:")).unwrap().trim().to_string();
            if u64::from_str_radix(&caught, 16).unwrap() & 0x4002 == 0x4002 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the handlers were never installed: {caught}");
            std::thread::yield_now();
        }
        assert!(child.try_wait().unwrap().is_none(), "it must block in pause()");
        let status = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert_eq!((exit.code(), exit.signal()), (Some(0), None), "SIGTERM runs the handler, which exits 0");
    }
}
