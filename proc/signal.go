package proc

import "syscall"

// Signal returns the signal thread tid receives when it next resumes (a
// stepped one: before its next instruction runs, into its handler), 0 for
// none; SetSignal changes it.
func (s *Session) Signal(tid int) (syscall.Signal, error) {
	th, err := s.thread(tid)
	if err != nil {
		return 0, err
	}
	return th.ts.sig, nil
}
