import { useEffect, useRef, type ReactNode } from "react";

/** A modal <dialog>: Escape and the backdrop close it, focus goes inside. */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    const close = () => onClose();
    d.addEventListener("close", close);
    return () => d.removeEventListener("close", close);
  }, [onClose]);
  return (
    <dialog ref={ref} className="dialog" aria-label={title} onClick={(e) => e.target === ref.current && onClose()}>
      <div className="dialog-body">
        <header>
          <h2>{title}</h2>
          <button type="button" className="ghost" aria-label="Close" onClick={onClose}>
            ✕
          </button>
        </header>
        {children}
      </div>
    </dialog>
  );
}
