/// A message header as it travels: 1 byte of version, 1 of kind, 2 of flags and 4 of body
/// length, all big-endian (network byte order), 8 bytes in all.
#[derive(Debug, PartialEq)]
struct Header {
    version: u8,
    kind: u8,
    flags: u16,
    len: u32,
}

impl Header {
    const SIZE: usize = 8;

    fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0] = self.version;
        b[1] = self.kind;
        b[2..4].copy_from_slice(&self.flags.to_be_bytes());
        b[4..8].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    fn from_bytes(b: [u8; Self::SIZE]) -> Header {
        let [version, kind, f0, f1, l0, l1, l2, l3] = b;
        Header {
            version,
            kind,
            flags: u16::from_be_bytes([f0, f1]),
            len: u32::from_be_bytes([l0, l1, l2, l3]),
        }
    }
}

fn main() {
    let h = Header {
        version: 1,
        kind: 2,
        flags: 0x0102,
        len: 300,
    };
    let wire = h.to_bytes();
    println!("{wire:02x?}");
    println!("{:?}", Header::from_bytes(wire));
    println!(
        "300 in memory on this machine: {:02x?}",
        300u32.to_ne_bytes()
    );
    assert_eq!(Header::from_bytes(wire), h);
}
