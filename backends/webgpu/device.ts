/**
 * Getting a GPU device: `navigator.gpu` in browsers (and Deno), the `webgpu` package (Dawn) in Node.
 * Failing to find an adapter is an error that says what to install, since the usual cause in Node is
 * a machine without a Vulkan driver.
 */
import { importNodeModule } from '../../core/nodeModule.js';

export interface AcquiredDevice {
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  /** The `GPU` object; Dawn keeps the process alive while it is referenced, so `dispose` drops it. */
  gpu: GPU | null;
  readonly info: AdapterDescription;
}

export interface AdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** 'navigator.gpu' or 'webgpu (Dawn)'. */
  readonly via: string;
  /** True for a GPU emulated on the CPU (SwiftShader, llvmpipe/lavapipe, WARP) or a fallback adapter. */
  readonly cpu: boolean;
}

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export const NO_ADAPTER_HELP =
  'webgpu backend: no GPU adapter found. In a browser, use one with WebGPU enabled. In Node, the `webgpu` ' +
  'package (Dawn) needs a Vulkan driver (Metal on macOS, D3D12 on Windows). On Linux without a GPU, install ' +
  `SwiftShader with \`apt-get install -y chromium\` and run with \`VK_ICD_FILENAMES=${SWIFTSHADER_ICD}\` ` +
  "(Mesa's lavapipe in Debian 12 is too old for Dawn). With a GPU, install its Vulkan driver (and libvulkan1).";

interface NodeProcess {
  platform: string;
  env: Record<string, string | undefined>;
  dlopen(module: { exports: unknown }, filename: string, flags?: number): void;
}

function nodeProcess(): NodeProcess | null {
  const p = (globalThis as { process?: Partial<NodeProcess> & { versions?: { node?: string } } }).process;
  return p?.versions?.node && typeof p.dlopen === 'function' ? (p as NodeProcess) : null;
}

/**
 * Dawn opens `libvulkan.so.1` by name. Debian's chromium ships the loader next to SwiftShader but not
 * on the library path (and `libvulkan1` is often not installed), so we load it from there once
 * (RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE): the dynamic linker then resolves Dawn's dlopen to the
 * loaded copy by its soname. Node rejects the file as an addon ("did not self-register"), which is
 * expected and harmless: the library stays loaded.
 */
function preloadVulkanLoader(proc: NodeProcess, dirs: readonly string[]): boolean {
  if (proc.platform !== 'linux') return false;
  const RTLD_NOW = 2;
  const RTLD_GLOBAL = 0x100;
  const RTLD_NODELETE = 0x1000;
  for (const dir of new Set(dirs)) {
    try {
      proc.dlopen({ exports: {} }, `${dir}/libvulkan.so.1`, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
      return true;
    } catch (e) {
      // Loaded, but not an addon: exactly what we wanted. Any other error means it is not there.
      if (/did not self-register/.test(String((e as Error).message))) return true;
    }
  }
  return false;
}

/** Options for the adapter request, e.g. `['adapter=...']` for Dawn; see node_modules/webgpu/README.md. */
export interface DeviceOptions {
  dawnFlags?: string[];
  powerPreference?: GPUPowerPreference;
}

async function requestAdapter(gpu: GPU, powerPreference: GPUPowerPreference): Promise<GPUAdapter | null> {
  try {
    return await gpu.requestAdapter({ powerPreference });
  } catch {
    return null;
  }
}

/** The limits we raise to the adapter's maximum (bigger buffers and workgroup memory for matmul tiles). */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

/**
 * A `GPU` object from the `webgpu` package (Dawn) in Node, with the Vulkan loader next to the ICD in
 * `VK_ICD_FILENAMES` preloaded. Set `globalThis.navigator = { gpu }` to share it with other WebGPU
 * code (the benchmark runs TF.js on the same adapter this way).
 */
export async function dawnGpu(flags: readonly string[] = []): Promise<GPU> {
  const proc = nodeProcess();
  if (!proc) throw new Error(NO_ADAPTER_HELP);
  let dawn: typeof import('webgpu');
  try {
    dawn = await importNodeModule<typeof import('webgpu')>('webgpu');
  } catch (e) {
    throw new Error(`${NO_ADAPTER_HELP} (the \`webgpu\` package could not be loaded: ${(e as Error).message}; run \`npm install webgpu\`)`);
  }
  // The loader shipped next to the chosen ICD (chromium's SwiftShader) first, which spares Dawn a failed attempt.
  const icd = proc.env['VK_ICD_FILENAMES'] ?? proc.env['VK_DRIVER_FILES'] ?? '';
  preloadVulkanLoader(proc, icd.split(':').filter(Boolean).map((f) => f.slice(0, f.lastIndexOf('/'))));
  return dawn.create([...flags]);
}

export async function acquireDevice(options: DeviceOptions = {}): Promise<AcquiredDevice> {
  const powerPreference = options.powerPreference ?? 'high-performance';
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  let gpu: GPU | null = null;
  let via = 'navigator.gpu';
  let adapter: GPUAdapter | null = null;
  if (nav?.gpu) {
    gpu = nav.gpu;
    adapter = await requestAdapter(gpu, powerPreference);
  } else {
    const proc = nodeProcess();
    if (!proc) throw new Error(NO_ADAPTER_HELP);
    via = 'webgpu (Dawn)';
    gpu = await dawnGpu(options.dawnFlags);
    adapter = await requestAdapter(gpu, powerPreference);
    if (!adapter && preloadVulkanLoader(proc, ['/usr/lib/chromium'])) {
      gpu = await dawnGpu(options.dawnFlags);
      adapter = await requestAdapter(gpu, powerPreference);
    }
  }
  if (!adapter) throw new Error(NO_ADAPTER_HELP);
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = adapter.limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const device = await adapter.requestDevice({ requiredLimits });
  const i = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const text = { vendor: i?.vendor ?? '', architecture: i?.architecture ?? '', device: i?.device ?? '', description: i?.description ?? '' };
  const cpu = i?.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|\bwarp\b|software/i.test(Object.values(text).join(' '));
  const info: AdapterDescription = { ...text, via, cpu };
  return { adapter, device, gpu, info };
}

export function describeAdapter(info: AdapterDescription): string {
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') + ` via ${info.via}${info.cpu ? ' (CPU-emulated)' : ''}`;
}
