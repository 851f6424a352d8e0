// The schema model: how ioctls are described, as data. Every family (KVM, HAXM, MSHV, Xen privcmd)
// is expressed with these types; adding a family adds data, not code paths.

/** The built-in families, or the name a user gave `schemas import --family`. */
export type Family = 'kvm' | 'haxm' | 'mshv' | 'xen-privcmd' | 'custom' | (string & {});

/** Data models: x86_64 Linux/BSD, i386, Windows x64. */
export type Abi = 'lp64' | 'ilp32' | 'llp64';
export const ABIS: readonly Abi[] = ['lp64', 'ilp32', 'llp64'];

/** How a request number is built. */
export type Numbering = 'linux' | 'bsd' | 'windows';

/** The direction bits of an `_IOC` number, or `none` for Windows / untyped numbers. */
export type IocDir = '_IO' | '_IOR' | '_IOW' | '_IOWR';

/** Direction of data flow as the driver really uses it, from the caller's view. */
export type Direction = 'in' | 'out' | 'inout' | 'none';

// ---- types and layouts ------------------------------------------------------------------------

/** `ulong` and `ptr` are pointer-sized: 8 bytes on lp64 and llp64 (ptr only), 4 on ilp32. */
export type ScalarKind = 'u8' | 'u16' | 'u32' | 'u64' | 's8' | 's16' | 's32' | 's64' | 'ptr' | 'ulong' | 'bool';

/** A reference to a type: a scalar, a named struct/union, or an array of either. */
export type TypeRef =
  | { kind: 'scalar'; scalar: ScalarKind }
  | { kind: 'struct'; name: string }
  | { kind: 'array'; element: TypeRef; count: number }
  /** A flexible array member: `entries[]`, sized by a count field of the enclosing struct. */
  | { kind: 'flex'; element: TypeRef; countField: string }
  /** Bytes with no finer structure (padding, opaque buffers). */
  | { kind: 'bytes' };

export interface Field {
  name: string;
  offset: number;
  size: number;
  type: TypeRef;
  /** Bit-field position where the field is one (offset then names the containing unit). */
  bits?: { shift: number; width: number };
}

/** A struct or union, laid out for one ABI by the C compiler. */
export interface Layout {
  name: string;
  union: boolean;
  size: number;
  align: number;
  fields: Field[];
}

// ---- size rules for regions behind embedded pointers -----------------------------------------

export type SizeRule =
  | { kind: 'const'; size: number }
  /**
   * A field of the argument times `scale` bytes (plus `add`); `bits`: a bit count, rounded up to u64s.
   * `scaleByAbi`/`addByAbi`, where present, replace `scale`/`add` on that ABI (element types holding
   * pointers or longs, measured by the compiler). `of: 'pointee'`: the count field is in the memory the
   * pointer reaches, not in the argument (HAXM's hax_cpuid, read through a pointer to a pointer).
   */
  | {
      kind: 'field';
      field: string;
      scale?: number;
      add?: number;
      bits?: boolean;
      scaleByAbi?: Partial<Record<Abi, number>>;
      addByAbi?: Partial<Record<Abi, number>>;
      of?: 'arg' | 'pointee';
    }
  /** From a sub-table selected by the request's multiplexing key (device attrs, ONE_REG ids). */
  | { kind: 'subtable'; table: string }
  /** KVM dirty bitmap: one bit per page of the slot named by `slotField`, rounded to 64 bits. */
  | { kind: 'dirty-bitmap'; slotField: string }
  /** A NUL-terminated string. */
  | { kind: 'cstring' };

/** A user pointer inside the argument that the driver follows. */
export interface PointerRule {
  /**
   * Field path in the argument, like `addr` or `entries[].va`; `*` is the argument itself when the
   * argument is a pointer to a pointer; `ubufs[].uptr` goes through the array `ubufs` points to.
   */
  field: string;
  size: SizeRule;
  dir: Direction;
  /** The pointee's type, where it has one (else raw bytes). */
  type?: TypeRef;
  /** For pointers inside array elements: the field holding the element count. */
  countField?: string;
}

/** The argument of an ioctl. */
export type ArgSpec =
  | { kind: 'none' }
  /**
   * The argument is passed by value (CHECK_EXTENSION's capability, CREATE_VCPU's id); `names`, a
   * constant prefix (`KVM_CAP_`), names its values.
   */
  | { kind: 'value'; meaning?: string; names?: string }
  /** A pointer to a struct or scalar. */
  | {
      kind: 'pointer';
      type: TypeRef;
      /** The direction of the whole pointee, from the real data flow. */
      dir: Direction;
      /** Field-level overrides where fields of one struct flow in different directions. */
      fieldDirs?: Record<string, Direction>;
      /** Variable-length tail: `field[]` with `countField` elements of `element`. */
      tail?: { field: string; countField: string; element: TypeRef; dir: Direction; max?: number };
      /** The argument's real length is in this field (kvm_nested_state.size), not in the number. */
      lengthField?: string;
      pointers?: PointerRule[];
    };

export type ReturnSpec =
  | { kind: 'zero' }
  /** An fd of an object kind: the return value, or written into the argument's `field`. */
  | { kind: 'fd'; object: string; field?: string; typeField?: string }
  | { kind: 'count' }
  | { kind: 'value'; meaning?: string };

/** How the request number is encoded. */
export interface Encoding {
  numbering: Numbering;
  /** `_IOC` fields (linux and bsd numbering). */
  dir?: IocDir;
  type?: number;
  nr?: number;
  /** Windows CTL_CODE fields; buffers travel with separate in/out lengths. */
  deviceType?: number;
  function?: number;
  method?: number;
  access?: number;
  /** True where the number was written with `_IOC(_IOC_NONE, ...)` yet carries a size. */
  noneWithSize?: boolean;
}

export interface IoctlSchema {
  name: string;
  family: Family;
  /** The object kinds this request is valid on (`system`, `vm`, `vcpu`, `device`, ...). */
  on: string[];
  encoding: Encoding;
  /** The request number per ABI, as the compiler computed it; absent where it cannot exist. */
  numbers: Partial<Record<Abi, number>>;
  /** The size encoded in the number per ABI (0 for `_IO`). */
  sizes: Partial<Record<Abi, number>>;
  arg: ArgSpec;
  returns: ReturnSpec;
  /** The capability that gates it (`KVM_CAP_...`), checked with CHECK_EXTENSION. */
  capability?: string;
  /** The driver API version it needs (HAXM: NOTIFY_QEMU_VERSION needs API 2). */
  sinceVersion?: number;
  /** For multiplexed ioctls: the sub-table that gives the real payload. */
  multiplex?: string;
  /** True for the ioctls that run a vCPU and fill the shared exit page. */
  run?: boolean;
  /** Architecture the request belongs to where it is not x86. */
  arch?: string;
  /**
   * Windows (CTL_CODE) requests carry no size: DeviceIoControl passes an input and an output buffer
   * length. Per ABI, the lengths the driver expects (0 where that buffer is unused).
   */
  buffers?: Partial<Record<Abi, { in: number; out: number }>>;
  /** Anything a reader should know: where direction bits lie, deprecation. */
  notes?: string[];
}

// ---- sub-tables of multiplexed ioctls ---------------------------------------------------------

/** One payload of a multiplexed ioctl: a key (device type/group/attr, reg id size, cap, cmd). */
export interface SubtableEntry {
  /** Key fields; `*` matches any value. */
  key: Record<string, number | string>;
  name: string;
  size: number;
  type?: TypeRef;
  dir?: Direction;
  /** The payload's length is the value of this key field (s390 FLIC buffers). */
  sizeFrom?: string;
  arch?: string;
  notes?: string;
}

export interface Subtable {
  name: string;
  /** The argument fields (or object properties like `device`) that select the entry. */
  keyFields: string[];
  entries: SubtableEntry[];
}

// ---- exits (the shared run page) --------------------------------------------------------------

export interface ExitSchema {
  name: string;
  value: number;
  /** The union member of the run page it fills, if any. */
  member?: string;
}

export interface RunPage {
  /** Struct name of the run page (`kvm_run`, `hax_tunnel`). */
  type: string;
  reasonField: string;
  exits: ExitSchema[];
}

// ---- a schema set -----------------------------------------------------------------------------

export interface ObjectKind {
  name: string;
  /** Device paths that open an object of this kind (`/dev/kvm`). */
  paths?: string[];
}

export interface SchemaSet {
  /** Stable id: family and variant (`kvm-linux`, `haxm-darwin`, `haxm-qemu-linux`). */
  id: string;
  family: Family;
  description: string;
  /** Where the data came from (header paths, compiler, versions). */
  source: Record<string, string>;
  /** The operating systems whose driver or monitor uses these numbers (`Linux`, `Darwin`, `Windows`). */
  os?: string[];
  /**
   * Whose definitions these are: the driver's, a monitor's copy (QEMU), an unmerged proposal, an
   * interface that was replaced (history), or a user's own headers (import). Absent means driver.
   */
  origin?: 'driver' | 'monitor' | 'proposal' | 'history' | 'import';
  /** What a reader should know about the set as a whole: what is unverified, what it omits. */
  notes?: string[];
  abis: Abi[];
  numbering: Numbering;
  objects: ObjectKind[];
  ioctls: IoctlSchema[];
  /** Struct and union layouts, per ABI. */
  types: Partial<Record<Abi, Record<string, Layout>>>;
  subtables: Record<string, Subtable>;
  constants: Record<string, number>;
  /** Device types by the name objects and sub-tables use (`vfio`), with their values. */
  deviceTypes?: Record<string, number>;
  runPage?: RunPage;
  mappings?: MappedPage[];
  protocol?: Protocol;
}

/** A page of an object's fd the monitor maps (kvm_run at 0, the coalesced MMIO ring after it). */
export interface MappedPage {
  object: string;
  /** Where in the fd's mapping, in pages. */
  pageOffset: number;
  type: string;
  /** A flexible array of the page and how many elements fit. */
  tail?: { field: string; count: number };
  notes?: string;
}

/** The requests a family's protocol is built on, for the object graph and the checker. */
export interface Protocol {
  /** Asked first, before anything else (KVM_GET_API_VERSION). */
  version?: string;
  /** Where the version request writes the oldest API it still serves and its own (HAXM's window). */
  versionFields?: { compat: string; current: string };
  /** Where the monitor states the API versions it speaks (HAXM: NOTIFY_QEMU_VERSION's cur and least). */
  monitorVersion?: { request: string; current: string; least: string };
  /** Answers whether a capability is there (KVM_CHECK_EXTENSION): argument the cap, > 0 yes. */
  checkExtension?: string;
  /**
   * Where a family reports its capabilities as flags instead (HAXM: HAX_IOCTL_CAPABILITY writes them to
   * hax_capabilityinfo.winfo): `capability` names a flag constant, present when `field & flag` is set.
   */
  capabilityFlags?: { request: string; field: string };
  /** Requests that set a vCPU's registers; one of them must come before the first run. */
  setRegisters?: string[];
  /** Requests that set a guest memory slot (fields slot, guest_phys_addr, memory_size, userspace_addr). */
  setMemorySlot?: string[];
  /**
   * Requests that ask about the host (what it supports), not the guest: replay on another driver may
   * answer otherwise. `NAME@kind` limits one to an object kind (device attributes of /dev/kvm).
   */
  hostQueries?: string[];
  /** Requests after which the host's clock drives the guest (in-kernel irqchip, PIT). */
  hostTimers?: string[];
  /** Requests that give a vCPU its CPUID; without one, CPUID answers what the host has. */
  setCpuid?: string[];
}
